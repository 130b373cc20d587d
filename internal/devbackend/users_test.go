package devbackend

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseUser(t *testing.T) {
	tests := []struct {
		name, in string
		want     User
		wantErr  bool
	}{
		{name: "email and account", in: "Dev@Example.com:dev", want: User{Email: "dev@example.com", Account: "dev", FirstName: "dev", Admin: true}},
		{name: "first name", in: "a@x.example:acme:Alice", want: User{Email: "a@x.example", Account: "acme", FirstName: "Alice", Admin: true}},
		{name: "admin", in: "a@x.example:acme:Alice:admin", want: User{Email: "a@x.example", Account: "acme", FirstName: "Alice", Admin: true}},
		{name: "viewer", in: "v@x.example:acme:Vic:viewer", want: User{Email: "v@x.example", Account: "acme", FirstName: "Vic"}},
		{name: "viewer without first name", in: "v@x.example:acme::viewer", want: User{Email: "v@x.example", Account: "acme", FirstName: "v"}},
		{name: "no account", in: "a@x.example", wantErr: true},
		{name: "empty account", in: "a@x.example:", wantErr: true},
		{name: "not an email", in: "alice:acme", wantErr: true},
		{name: "bad role", in: "a@x.example:acme:A:owner", wantErr: true},
		{name: "too many fields", in: "a@x.example:acme:A:admin:x", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseUser(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseUser(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseUser(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}
