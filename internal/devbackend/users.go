package devbackend

import (
	"fmt"
	"strings"
)

// ParseUser parses the --user flag: email:account[:first_name[:admin|viewer]]. The role
// defaults to admin (may write clients); the first name to the email's local part.
func ParseUser(s string) (User, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 4 {
		return User{}, fmt.Errorf("user %q: want email:account[:first_name[:admin|viewer]]", s)
	}
	u := User{Email: strings.ToLower(strings.TrimSpace(parts[0])), Account: strings.TrimSpace(parts[1]), Admin: true}
	if !strings.Contains(u.Email, "@") || u.Account == "" {
		return User{}, fmt.Errorf("user %q: want an email address and an account name, e.g. dev@example.com:dev", s)
	}
	if len(parts) > 2 {
		u.FirstName = strings.TrimSpace(parts[2])
	}
	if u.FirstName == "" {
		u.FirstName = u.Email[:strings.IndexByte(u.Email, '@')]
	}
	if len(parts) > 3 {
		switch parts[3] {
		case "admin", "":
		case "viewer":
			u.Admin = false
		default:
			return User{}, fmt.Errorf("user %q: the role %q is neither admin nor viewer", s, parts[3])
		}
	}
	return u, nil
}
