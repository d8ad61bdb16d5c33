// Package access says who gennaker's users are and what they may do: which Slack user is which
// gennaker user, and whether a user holds a role a manual judgment requires.
package access

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// User is a gennaker user (usually an email), the Slack user that is this person, and their roles.
type User struct {
	Name    string   `json:"name"`
	SlackID string   `json:"slackId,omitempty"`
	Roles   []string `json:"roles,omitempty"`
}

// Anonymous is the name the API gives a caller that names no user; it can hold no role.
const Anonymous = "anonymous"

// Directory looks users up by name and by Slack ID. A nil *Directory knows nobody, so a server
// configured without users still answers, and every role check needing a role refuses.
type Directory struct {
	byName  map[string]User
	bySlack map[string]User
}

// NewDirectory checks a list of users and indexes it; the error names every problem at once so
// that a configuration is fixed in one pass.
func NewDirectory(users []User) (*Directory, error) {
	d := &Directory{byName: map[string]User{}, bySlack: map[string]User{}}
	var problems []string
	for i, u := range users {
		u.Name = strings.TrimSpace(u.Name)
		u.SlackID = strings.TrimSpace(u.SlackID)
		u.Roles = slices.Clone(u.Roles)
		where := fmt.Sprintf("users[%d]", i)
		if u.Name != "" {
			where += " (" + u.Name + ")"
		}
		key := nameKey(u.Name)
		switch _, dup := d.byName[key]; {
		case u.Name == "":
			problems = append(problems, where+": the name is empty")
		case key == Anonymous:
			problems = append(problems, where+": anonymous is what the API calls a caller who names no user")
		case dup:
			problems = append(problems, where+": the name is listed twice (names are compared ignoring case)")
		default:
			d.byName[key] = u
		}
		if u.SlackID != "" {
			if _, dup := d.bySlack[u.SlackID]; dup {
				problems = append(problems, where+": the Slack ID "+u.SlackID+" is listed twice")
			} else {
				d.bySlack[u.SlackID] = u
			}
		}
		for j, r := range u.Roles {
			if strings.TrimSpace(r) == "" {
				problems = append(problems, fmt.Sprintf("%s: roles[%d] is empty", where, j))
			}
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("the user list is not valid: %s", strings.Join(problems, "; "))
	}
	return d, nil
}

// nameKey compares names ignoring case, as email addresses are in practice.
func nameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// BySlackID finds the user a Slack user ID belongs to.
func (d *Directory) BySlackID(id string) (User, bool) {
	if d == nil || id == "" {
		return User{}, false
	}
	u, ok := d.bySlack[id]
	if !ok {
		return User{}, false
	}
	u.Roles = slices.Clone(u.Roles)
	return u, true
}

// ByName finds a user by name, ignoring case.
func (d *Directory) ByName(name string) (User, bool) {
	if d == nil {
		return User{}, false
	}
	u, ok := d.byName[nameKey(name)]
	if !ok {
		return User{}, false
	}
	u.Roles = slices.Clone(u.Roles)
	return u, true
}

// Roles lists the roles of a user; an unknown user has none.
func (d *Directory) Roles(name string) []string {
	if d == nil {
		return nil
	}
	return slices.Clone(d.byName[nameKey(name)].Roles)
}

// Refusal is why a user may not do something; callers answer it as "forbidden", not as a failure.
type Refusal struct {
	// User is who was refused; empty when no user was named.
	User string
	// Required are the roles of which the user holds none.
	Required []string
}

// Error says who is refused and which roles they lack.
func (r *Refusal) Error() string {
	roles := strings.Join(r.Required, ", ")
	if r.User == "" {
		return fmt.Sprintf("this judgment requires one of the roles %s, so a user must be named", roles)
	}
	return fmt.Sprintf("%s has none of the roles this judgment requires (%s)", r.User, roles)
}

// ErrRefused matches every *Refusal with errors.Is, for callers that only need the class.
var ErrRefused = errors.New("refused")

// Is makes errors.Is(err, ErrRefused) hold for a refusal.
func (r *Refusal) Is(target error) bool { return target == ErrRefused }

// CanJudge decides whether user may decide a manual judgment that requires one of the roles:
// with no required role anyone may, as in Spinnaker; otherwise the user must hold at least one.
func (d *Directory) CanJudge(user string, required []string) error {
	var need []string
	for _, r := range required {
		if r = strings.TrimSpace(r); r != "" {
			need = append(need, r)
		}
	}
	if len(need) == 0 {
		return nil
	}
	user = strings.TrimSpace(user)
	if user == "" || nameKey(user) == Anonymous {
		return &Refusal{Required: need}
	}
	for _, have := range d.Roles(user) {
		for _, r := range need {
			if strings.EqualFold(strings.TrimSpace(have), r) {
				return nil
			}
		}
	}
	return &Refusal{User: user, Required: need}
}
