package scenarios

import ()

// fresh returns new values of the scenarios for a round after the first, so that
// nothing one run carries leaks into the next.
func (c *Catalogue) fresh(list []Scenario, round int) []Scenario {
	out := make([]Scenario, len(list))
	for i, s := range list {
		out[i] = s
		if round == 1 {
			continue
		}
		if r, ok := s.(Renewable); ok {
			out[i] = r.Renew()
		} else if n, ok := c.New(s.Name()); ok {
			out[i] = n
		}
	}
	return out
}
