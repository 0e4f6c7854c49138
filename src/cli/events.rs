//! `berth events`: the state root's event journal as `docker events` prints it, past events with `--since`,
//! live ones until `--until` (or Ctrl-C).

use std::io::Write;

use anyhow::Context;
use berth_engine::Engine;
use berth_engine::journal::{Event, EventFilters, EventQuery, parse_time};
use chrono::{DateTime, Local, SecondsFormat, Utc};
use clap::Args;
use serde_json::{Value, json};

use super::template::Template;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long, allow_hyphen_values = true)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long, allow_hyphen_values = true)]
    pub(super) until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short, long = "filter", value_name = "filter")]
    filters: Vec<String>,
    /// Format output: json (docker's JSON per event) or a Go template
    #[arg(long)]
    format: Option<String>,
}

/// How each event is printed.
enum Output {
    Line,
    Json,
    Template(Template),
}

pub async fn run(engine: &Engine, args: EventsArgs) -> anyhow::Result<()> {
    let now = Utc::now();
    let time = |value: &Option<String>| value.as_deref().map(|v| parse_time(v, now)).transpose();
    let query = EventQuery {
        since: time(&args.since)?,
        until: time(&args.until)?,
        filters: EventFilters::parse(&args.filters)?,
    };
    let output = match args.format.as_deref() {
        None | Some("") => Output::Line,
        Some("json") => Output::Json,
        Some(text) => Output::Template(Template::parse(text).context("template parsing error")?),
    };
    let mut events = engine.journal_events(query).await?;
    let mut out = std::io::stdout().lock();
    while let Some(event) = events.next().await {
        let text = match &output {
            Output::Line => line(&event?),
            Output::Json => serde_json::to_string(&event?.api_message())?,
            Output::Template(template) => template.render(&template_value(&event?))?,
        };
        // A closed pipe (`berth events | head`) ends the command quietly, as docker's does.
        if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
    Ok(())
}

/// Docker's default line: local time with nanoseconds, type, action, actor id, then the attributes by key.
fn line(event: &Event) -> String {
    let mut text =
        format!("{} {} {} {}", local_time(event.time_nano), event.kind.as_str(), event.action, event.actor.id);
    if !event.actor.attributes.is_empty() {
        let attributes: Vec<String> = event.actor.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect();
        text.push_str(&format!(" ({})", attributes.join(", ")));
    }
    text
}

/// Go's `RFC3339NanoFixed` in local time: nine fraction digits, `Z` for UTC.
fn local_time(nanos: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(nanos).with_timezone(&Local).to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// The event as Go's template sees docker's `events.Message`: its field names, not its JSON keys.
fn template_value(event: &Event) -> Value {
    let message = event.api_message();
    json!({
        "Status": message.status,
        "ID": message.id,
        "From": message.from,
        "Type": message.kind.as_str(),
        "Action": message.action,
        "Actor": {"ID": message.actor.id, "Attributes": message.actor.attributes},
        "Scope": message.scope,
        "Time": message.time,
        "TimeNano": message.time_nano,
    })
}

#[cfg(test)]
mod tests {
    use berth_engine::journal::EventType;

    use super::*;

    #[test]
    fn be_default_line_is_dockers() {
        let mut event =
            Event::new(EventType::Container, "start", "abc123").attr("name", "web").attr("image", "busybox");
        event.time_nano = 1_765_029_600_123_456_789;
        let text = line(&event);
        let expected_time = local_time(event.time_nano);
        assert_eq!(text, format!("{expected_time} container start abc123 (image=busybox, name=web)"));
        if Local::now().offset().local_minus_utc() == 0 {
            assert_eq!(expected_time, "2025-12-06T14:00:00.123456789Z");
        }
        let bare = Event::new(EventType::Volume, "destroy", "data");
        assert!(line(&bare).ends_with(" volume destroy data"));
    }

    #[test]
    fn be_templates_see_go_field_names() {
        let event = Event::new(EventType::Container, "die", "abc").attr("exitCode", "3").attr("image", "busybox");
        let template =
            Template::parse("{{.Type}} {{.Status}} {{.ID}} {{.From}} {{.Actor.Attributes.exitCode}}").unwrap();
        assert_eq!(template.render(&template_value(&event)).unwrap(), "container die abc busybox 3");
    }
}
