//! The `silt` command. Everything but argument parsing and printing is in the library.

mod cli;

// Loading and compiling a large project allocates many small strings and maps; mimalloc
// handles that far better than the system allocator (measured in BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
