package scenarios

import ()

// fresh returns new values of the scenarios for a round after the first, so that
// nothing one run carries leaks into the next.
func fresh(list []Scenario, round int) []Scenario {
	out := make([]Scenario, len(list))
	for i, s := range list {
		out[i] = s
		if round == 1 {
			continue
		}
		if r, ok := s.(renewable); ok {
			out[i] = r.renew()
		} else if n, ok := newScenario(s.Name()); ok {
			out[i] = n
		}
	}
	return out
}

func isGroup(name string) bool {
	for _, e := range catalogue {
		if e.group == name {
			return true
		}
	}
	return false
}
