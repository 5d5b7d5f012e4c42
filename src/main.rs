//! The `ncgw` binary: hands the command line to `ncgw::cli`.
fn main() -> std::process::ExitCode {
    ncgw::cli::main()
}
