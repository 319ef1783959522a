use clap::Parser;
use lrpo_host::cli::{AbCommand, Cli, Command, ConfigCommand, DataCommand, PluginsCommand};
use lrpo_host::commands;
use lrpo_host::data;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let global = &cli.global;
    let result = match cli.command.unwrap_or(Command::Train { resume: None }) {
        Command::Train { resume } => commands::train(global, resume.is_some()).map(|s| (s, true)),
        Command::Plugins(PluginsCommand::List { json }) => commands::list_plugins(global, json),
        Command::Config(ConfigCommand::Show) => commands::show_config(global).map(|s| (s, true)),
        Command::Data(DataCommand::Prepare { input, out, seed }) => {
            data::prepare(&input, &out, seed).map(|summary| (format!("{summary}\n"), true))
        }
        Command::Calibrate { args } => commands::calibrate(&args).map(|()| (String::new(), true)),
        Command::Report { run_dir } => {
            lrpo_host::report::write_report(&run_dir).map(|page| (format!("wrote {}\n", page.display()), true))
        }
        Command::Export { path, out, dtype, force } => {
            lrpo_host::export::export_command(global, &path, &out, dtype, force).map(|s| (s, true))
        }
        Command::Ab(AbCommand::Report { run_dir }) => lrpo_host::report::ab_report(&run_dir).and_then(|r| {
            let plots = lrpo_host::report::write_ab_plots(&run_dir, &r)?;
            let list: Vec<String> = plots.iter().map(|p| format!("wrote {}\n", p.display())).collect();
            Ok((format!("{r}{}", list.concat()), true))
        }),
        Command::Eval(args) => lrpo_host::eval::eval_command(global, &args).map(|s| (s, true)),
        Command::Data(DataCommand::Check { file }) => commands::resolved_config(global)
            .and_then(|cfg| data::check_with(&file, &cfg.read_options()))
            .map(|report| (format!("{report}\n"), report.is_clean())),
    };
    match result {
        Ok((out, ok)) => {
            print!("{out}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            // 2: the user can fix it (usage, config, input, plugin choice); 1: it failed while running.
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}

/// `RUST_LOG` filters host and plugin events alike; plugins filter their own events with the
/// same directives before forwarding them, so the `plugin` target is always let through here.
fn init_logging() {
    let directives = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(format!("{directives},plugin=trace"))
        .unwrap_or_else(|_| EnvFilter::new("info,plugin=trace"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
