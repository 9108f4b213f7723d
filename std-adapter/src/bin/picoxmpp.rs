//! The `picoxmpp` command; see [`picoxmpp_std::cli`].

fn main() -> std::process::ExitCode {
    picoxmpp_std::cli::main()
}
