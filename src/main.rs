fn main() -> std::process::ExitCode {
    dtrplay::main()
}
