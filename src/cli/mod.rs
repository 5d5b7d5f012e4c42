//! The `ncgw` command line: `run` starts a node; the other commands check files or talk to a
//! running node through its admin API.

mod agents;
mod calls;
mod check;
mod client;
mod dialplan;
mod node;
mod queues;
mod recordings;
mod run;
mod table;
mod users;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ncgw — SIP / 5G New Calling media gateway for remote audio/video service centres.
#[derive(Debug, Parser)]
#[command(name = "ncgw", version, about, long_about = None, propagate_version = true)]
#[command(after_help = "Start a node on embedded defaults:  ncgw run\nCheck configuration first:          ncgw check --config config/ncgw.toml")]
pub struct Cli {
    /// Admin API address of the node to talk to.
    #[arg(long, global = true, env = "NCGW_ADMIN", default_value = "127.0.0.1:9060", value_name = "ADDR")]
    pub admin: String,
    /// Print JSON instead of tables (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the gateway (embedded defaults unless --config is given).
    Run(run::RunArgs),
    /// Validate configuration and dialplans without starting anything.
    Check(check::CheckArgs),
    /// Show a running node's health, listeners and transaction counts.
    Status,
    /// Send a SIP OPTIONS from the node to a peer and show the answer and round-trip time.
    Ping(node::PingArgs),
    /// Stop taking new calls, finish open transactions, then stop the node.
    Drain,
    /// Live calls; `show ID` for detail, `hangup ID` to end one.
    Calls(calls::CallsArgs),
    /// Call records, newest first.
    Cdr(calls::CdrArgs),
    /// SIP users (registration and digest authentication).
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Current registrations.
    Registrations,
    /// Agents: live state; add, set, remove, login, logout, state.
    Agents(agents::AgentsArgs),
    /// Queues: waiting calls, agents by state, service level; `show NAME` for intervals.
    Queues(queues::QueuesArgs),
    /// Call recordings on this machine's data directory: list, verify, export, pubkey.
    Recordings(recordings::RecordingsArgs),
    /// Work with dialplans without a running node.
    #[command(subcommand)]
    Dialplan(dialplan::DialplanCommand),
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::check(args, cli.json),
        Command::Status => node::status(&cli),
        Command::Ping(args) => node::ping(&cli, args),
        Command::Drain => node::drain(&cli),
        Command::Dialplan(cmd) => dialplan::run(cmd, cli.json),
        Command::Calls(args) => calls::calls(&cli, args),
        Command::Cdr(args) => calls::cdr(&cli, args),
        Command::Users(cmd) => users::users(&cli, cmd),
        Command::Registrations => users::registrations(&cli),
        Command::Agents(args) => agents::agents(&cli, args),
        Command::Queues(args) => queues::queues(&cli, args),
        Command::Recordings(args) => recordings::recordings(&cli, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
