"""One module per `smp` verb: `HELP`, `arguments(parser, shared)` (its options; `shared` adds the options every
verb declares alike, from `smp.pipelines.cli`) and `main(args) -> exit status`, a thin call into the core module
that does the work (`runner`, `prediction`, `forward`, `comparison`, `ablation`, `retraining`, ...)."""
