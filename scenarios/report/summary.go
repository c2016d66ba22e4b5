package report

import "slices"

// DrillSummary is one drill's figures over the rounds of `drill run --repeat N`: how
// often it passed, and its detection and recovery times (passed runs only).
type DrillSummary struct {
	Name   string  `json:"name"`
	Runs   int     `json:"runs"`
	Passed int     `json:"passed"`
	Detect Figures `json:"timeToDetectMs"`
	// Recover is time to recover, from the recover phase's turn to the steady state
	// verified.
	Recover Figures `json:"timeToRecoverMs"`
}

// Figures are the minimum, median and maximum of a duration, in milliseconds (all
// zero when no run passed).
type Figures struct {
	Min    int64 `json:"min"`
	Median int64 `json:"median"`
	Max    int64 `json:"max"`
}

func figures(xs []int64) Figures {
	if len(xs) == 0 {
		return Figures{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return Figures{Min: s[0], Median: med, Max: s[len(s)-1]}
}

// Summarise gathers each drill's runs, in the order drills first ran.
func Summarise(runs []ScenarioResult) []DrillSummary {
	var out []DrillSummary
	at := map[string]int{}
	detect := map[string][]int64{}
	recov := map[string][]int64{}
	for _, r := range runs {
		i, ok := at[r.Name]
		if !ok {
			i = len(out)
			at[r.Name] = i
			out = append(out, DrillSummary{Name: r.Name})
		}
		out[i].Runs++
		if r.Result == ResultPassed {
			out[i].Passed++
			detect[r.Name] = append(detect[r.Name], r.TimeToDetectMs)
			recov[r.Name] = append(recov[r.Name], r.TimeToRecoverMs)
		}
	}
	for i := range out {
		out[i].Detect, out[i].Recover = figures(detect[out[i].Name]), figures(recov[out[i].Name])
	}
	return out
}
