package rootfs

import "sort"

// KnownOptions lists every mount option ParseOptions understands, for the
// `features` command: it must list exactly what strata implements.
func KnownOptions() []string {
	var opts []string
	for o := range flagOptions() {
		opts = append(opts, o)
	}
	for o := range propagationOptions() {
		opts = append(opts, o)
	}
	for o := range recAttrOptions() {
		opts = append(opts, o)
	}
	// Handled by ParseOptions outside the tables above.
	opts = append(opts, "idmap", "ridmap", "tmpcopyup")
	sort.Strings(opts)
	return opts
}
