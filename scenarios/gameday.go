package scenarios

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/arcodange/labsbx/scenarios/drillfile"
)

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

// summarise gathers each drill's runs, in the order drills first ran.
func summarise(runs []ScenarioResult) []DrillSummary {
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

// fresh returns new values of the scenarios for a round after the first, so that
// nothing one run carries leaks into the next.
func fresh(list []Scenario, round int) []Scenario {
	out := make([]Scenario, len(list))
	for i, s := range list {
		out[i] = s
		if round == 1 {
			continue
		}
		if fd, ok := s.(*fileDrill); ok {
			out[i] = NewFileDrill(fd.d)
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

// isManualFile: a drill file whose recovery is a person's step.
func isManualFile(s Scenario) bool {
	fd, ok := s.(*fileDrill)
	return ok && fd.manualRecovery()
}

// recordedFile is what the sandbox state keeps of a drill file while its fault is in
// place: the whole document, and where its commands run.
type recordedFile struct {
	Source   string `json:"source"`
	Dir      string `json:"dir"`
	Document string `json:"document"`
}

func (f *fileDrill) record() (string, error) {
	b, err := json.Marshal(recordedFile{Source: f.d.Source, Dir: f.d.Dir, Document: string(f.d.Raw)})
	return string(b), err
}

// recordedFileDrill makes the scenario of a drill file recorded with its fault, to
// roll it back (`labsbx drill recover`). The document is judged again, as when it ran.
func recordedFileDrill(detail string) (Scenario, error) {
	var r recordedFile
	if err := json.Unmarshal([]byte(detail), &r); err != nil {
		return nil, fmt.Errorf("the state's record of a drill file is corrupt: %w", err)
	}
	d, err := drillfile.Parse(r.Source, []byte(r.Document))
	if err != nil {
		return nil, err
	}
	d.Dir = r.Dir
	return NewFileDrill(d), nil
}
