//! The `rapport` binary: everything happens in the library's [`rapport::cli`].

fn main() -> std::process::ExitCode {
    rapport::cli::main()
}
