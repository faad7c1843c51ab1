package main

// The image side of strata (build, bundle, check, pull, push; checkpoint and
// restore, below) is built into a second executable, strata-image: this
// package compiled with the strata_image build tag, installed next to
// strata. strata itself, without the tag, forwards those commands to it
// (image_forward.go). The reason is the cost of a start: strata starts twice
// per container (the CLI, then the container's init), and the registry
// client, digests, compressors and the image builder linked in made every
// start pay their package initialisers and pages: 2.3 ms of a 17 ms `run` of
// /bin/true on the bench machine (16.1 MB of binary against 10.4 MB without
// them; GODEBUG=inittrace=1: 1.10 ms of initialisers against 0.73). check is
// on the image side because it probes the layer store's filesystem the way
// `bundle create` mounts it. checkpoint and restore are there too, for the
// same reason as the image commands: their CRIU RPC client brings protobuf,
// whose descriptors are built at every start (0.15 ms of initialisers, 1.6
// MB of the runtime's 10.2 MB), for two commands that run CRIU for a second
// or more anyway.
//
// What `strata --help` says of each, shared by both executables.
const (
	buildUsage  = "build an image from a Containerfile"
	bundleUsage = "make OCI bundles from OCI images, and images from bundles' changes"
	checkUsage  = "report what this host's kernel offers and what strata refuses or falls back from here"
	pullUsage   = "fetch an image's layers from a registry into the layer store"
	pushUsage   = "send a local image to a registry"

	checkpointUsage = "checkpoint a running container"
	restoreUsage    = "restore a container from a previous checkpoint"
)
