package devbackend

import (
	"fmt"
	"testing"
)

// BenchmarkEnrollment is one bootstrap's whole conversation with the backend: device
// code, approval, token, userinfo, list, create, credential check, token revocation.
func BenchmarkEnrollment(b *testing.B) {
	e := newEnv(b)
	b.ResetTimer()
	for i := range b.N {
		tok := e.login(adminA)
		e.do("GET", "/userinfo/", tok, nil)
		e.do("GET", "/edge-device/", tok, nil)
		d := e.mustCreate(tok, createReq(fmt.Sprintf("edge-%d", i), fmt.Sprintf("ns-%d", i), fmt.Sprintf("cluster-%d", i)))
		if !e.credentialWorks(d.Username, goodPassword) {
			b.Fatal("credential refused")
		}
		e.do("POST", "/auth/revoke", tok, nil)
	}
}
