//go:build cri

package cri

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// logs: the container's output reaches `crictl logs` and the CRI log file
// the shim writes (timestamp, stream, tag, line).
func (p *pod) logs(t *testing.T, id, name, want string) {
	if got := must(t, p.e.crictl(t, "logs", id)); got != want {
		t.Errorf("crictl logs: %q, want %q", got, want)
	}
	data, err := os.ReadFile(filepath.Join(p.logDir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^\S+ stdout F ` + regexp.QuoteMeta(want) + `$`).Match(data) {
		t.Errorf("the CRI log file has no `<time> stdout F %s` line:\n%s", want, data)
	}
}

// stats: ContainerStats reports CPU time and memory for the container, read
// from the cgroup the runtime made.
func (p *pod) stats(t *testing.T, id string) {
	out := must(t, p.e.crictl(t, "stats", "-o", "json", "--id", id))
	var st struct {
		Stats []struct {
			Attributes struct {
				ID string `json:"id"`
			} `json:"attributes"`
			CPU struct {
				UsageCoreNanoSeconds struct{ Value any } `json:"usageCoreNanoSeconds"`
			} `json:"cpu"`
			Memory struct {
				WorkingSetBytes struct{ Value any } `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"stats"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("crictl stats: %v\n%s", err, out)
	}
	if len(st.Stats) != 1 || st.Stats[0].Attributes.ID != id {
		t.Fatalf("crictl stats --id %s: want one entry for it:\n%s", id, out)
	}
	cpu, mem := counter(st.Stats[0].CPU.UsageCoreNanoSeconds.Value), counter(st.Stats[0].Memory.WorkingSetBytes.Value)
	if cpu == 0 || mem == 0 {
		t.Errorf("crictl stats: CPU %d ns, working set %d bytes; want both above 0:\n%s", cpu, mem, out)
	}
}

// counter reads a CRI UInt64Value's value, which protobuf's JSON writes as
// a string and older encoders as a number.
func counter(v any) uint64 {
	n, _ := strconv.ParseUint(fmt.Sprint(v), 10, 64)
	return n
}
