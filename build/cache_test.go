package build

import "testing"

func TestStepKeyDependsOnEveryInput(t *testing.T) {
	base := stepKey("p", "RUN true", []string{"A=1"}, "c")
	for _, k := range []string{
		stepKey("q", "RUN true", []string{"A=1"}, "c"),
		stepKey("p", "RUN  true", []string{"A=1"}, "c"),
		stepKey("p", "RUN true", []string{"A=2"}, "c"),
		stepKey("p", "RUN true", []string{"A=1"}, "d"),
	} {
		if k == base {
			t.Fatalf("key %s did not change with its input", k)
		}
	}
	if stepKey("p", "RUN true", []string{"A=1"}, "c") != base {
		t.Fatal("the same inputs gave another key")
	}
}
