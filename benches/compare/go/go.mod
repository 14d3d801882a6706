module httpbatch-compare

go 1.21

require github.com/httpbatch/httpbatch/bindings/go v0.0.0

// The checkout under measurement (its README's way to build it: pkg-config from
// scripts/install-c.sh; scripts/bench-compare.sh does that).
replace github.com/httpbatch/httpbatch/bindings/go => ../../../bindings/go
