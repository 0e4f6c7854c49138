//! Output shapes shared by commands: docker's sizes and relative times (worded in the engine's `display`, which
//! the TUI shares), aligned tables, and `--format` (Go templates, `table`, `json`) for lists and inspect.

use anyhow::Context;
use berth_engine::display;
use serde_json::Value;

use super::template::{Missing, Template, tabwriter};

/// Sizes as docker prints them (`4.26MB`).
pub use berth_engine::display::size as human_size;

/// "About an hour ago", "3 weeks ago": docker's wording of how long ago a time was (`N/A` when unknown).
pub fn time_ago(rfc3339: Option<&str>) -> String {
    display::ago(rfc3339, chrono::Utc::now())
}

/// Columns padded to their widest cell plus three spaces, as Docker's tables are.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len().saturating_sub(1);
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}", width = widths[i] + 3));
            }
        }
        out.push('\n');
    }
    out
}

/// A list command's `--format`: docker's `table` directive, `json`, or any template, each row an object of the
/// keys `--format json` prints.
#[derive(Debug)]
pub enum Format {
    /// A header row, then one row per object, cells split at tabs and aligned.
    Table(Template),
    /// One line per object.
    Lines(Template),
}

impl Format {
    /// `text` as docker reads it: absent or `table` is the command's `default_table`, `json` is `{{json .}}`,
    /// `table …` a table of the rest; `\t` and `\n` written out stand for tab and newline.
    pub fn parse(text: Option<&str>, default_table: &str) -> anyhow::Result<Format> {
        let text = match text {
            None | Some("") | Some("table") => default_table,
            Some("json") => "{{json .}}",
            Some(other) => other,
        };
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let body = body.trim_matches(' ').replace("\\t", "\t").replace("\\n", "\n");
        let template = Template::parse(&body).context("template parsing error")?;
        Ok(if table { Format::Table(template) } else { Format::Lines(template) })
    }

    /// The rows as text; `headers` maps each field to its column title (`ID` → `CONTAINER ID`).
    pub fn render(&self, rows: &[Value], headers: &[(&str, &str)]) -> anyhow::Result<String> {
        let (Format::Table(template) | Format::Lines(template)) = self;
        let mut text = String::new();
        if let Format::Table(_) = self {
            let titles: serde_json::Map<String, Value> =
                headers.iter().map(|(field, title)| (field.to_string(), Value::from(*title))).collect();
            text.push_str(&template.render_header(&Value::Object(titles)));
            text.push('\n');
        }
        for row in rows {
            let line = template.render_with(row, Missing::Error, Some(row_method));
            text.push_str(&line.context("template parsing error")?);
            text.push('\n');
        }
        Ok(match self {
            Format::Table(_) => tabwriter::align(&text),
            Format::Lines(_) => text,
        })
    }

    pub fn print_rows(&self, rows: &[Value], headers: &[(&str, &str)]) -> anyhow::Result<()> {
        use std::io::Write;
        let text = self.render(rows, headers)?;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }
}

/// docker's `{{.Label "key"}}` on list rows: one label's value out of the row's `Labels` (`k=v,k2=v2`), "" when
/// it has no such label.
fn row_method(row: &Value, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
    if name != "Label" {
        return None;
    }
    let Value::String(labels) = row.get("Labels")? else { return None };
    let [Value::String(key)] = args else {
        return Some(Err("Label takes one string, the label's key".into()));
    };
    let value = labels.split(',').filter_map(|l| l.split_once('=')).find(|(k, _)| k == key).map(|(_, v)| v);
    Some(Ok(Value::from(value.unwrap_or_default())))
}

/// An inspect command's `-f`/`--format`: docker's indented JSON array, or a template run over each object.
#[derive(Debug)]
pub enum InspectFormat {
    Json,
    Template(Template),
}

impl InspectFormat {
    pub fn parse(text: Option<&str>) -> anyhow::Result<InspectFormat> {
        match text {
            None | Some("") | Some("json") => Ok(InspectFormat::Json),
            Some(text) => Ok(InspectFormat::Template(Template::parse(text).context("template parsing error")?)),
        }
    }

    /// The objects as text: a JSON array, or each object's rendering followed by a newline.
    pub fn render(&self, docs: &[Value]) -> anyhow::Result<String> {
        match self {
            InspectFormat::Json => Ok(serde_json::to_string_pretty(docs)? + "\n"),
            InspectFormat::Template(t) => {
                let mut text = String::new();
                for doc in docs {
                    text.push_str(&t.render(doc).context("template parsing error")?);
                    text.push('\n');
                }
                Ok(text)
            }
        }
    }

    pub fn print(&self, docs: &[Value]) -> anyhow::Result<()> {
        use std::io::Write;
        let text = self.render(docs)?;
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(t, "A      BB\nlong   x\n");
    }

    const HEADERS: &[(&str, &str)] = &[("ID", "CONTAINER ID"), ("Names", "NAMES"), ("Status", "STATUS")];

    fn rows() -> Vec<Value> {
        vec![
            serde_json::json!({"ID": "0123456789ab", "Names": "web", "Status": "Up 2 minutes"}),
            serde_json::json!({"ID": "ba9876543210", "Names": "a-much-longer-name", "Status": "Exited (0) 1 second ago"}),
        ]
    }

    #[test]
    fn table_directive_prints_titles_then_aligned_rows() {
        let format = Format::parse(Some(r"table {{.Names}}\t{{upper .Status}}"), "").unwrap();
        let want = format!(
            "{:<21}STATUS\n{:<21}UP 2 MINUTES\n{:<21}EXITED (0) 1 SECOND AGO\n",
            "NAMES", "web", "a-much-longer-name"
        );
        assert_eq!(format.render(&rows(), HEADERS).unwrap(), want);
        // A field without a title heads its column with nothing, as docker's header map does.
        let format = Format::parse(Some("table {{.ID}} {{.Other}}."), "").unwrap();
        assert_eq!(format.render(&[], HEADERS).unwrap(), "CONTAINER ID .\n");
    }

    #[test]
    fn default_table_json_and_plain_templates() {
        let default = "table {{.ID}}\t{{.Names}}";
        for text in [None, Some("table"), Some("")] {
            let out = Format::parse(text, default).unwrap().render(&rows(), HEADERS).unwrap();
            assert!(out.starts_with("CONTAINER ID   NAMES\n0123456789ab   web\n"), "{text:?}: {out}");
        }
        let json = Format::parse(Some("json"), default).unwrap().render(&rows()[..1], HEADERS).unwrap();
        assert_eq!(json, "{\"ID\":\"0123456789ab\",\"Names\":\"web\",\"Status\":\"Up 2 minutes\"}\n");
        let plain = Format::parse(Some(r"  {{.Names}}\t{{.ID}}  "), default).unwrap();
        assert_eq!(plain.render(&rows(), HEADERS).unwrap(), "web\t0123456789ab\na-much-longer-name\tba9876543210\n");
        let err = Format::parse(Some("{{.Nmae}}"), default).unwrap().render(&rows(), HEADERS).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "template parsing error: template: :1:3: executing at <.Nmae>: can't evaluate field Nmae"
        );
        let labelled = [serde_json::json!({"Labels": "a=1,com.x.project=web", "Names": "w"})];
        let label = Format::parse(Some(r#"{{.Label "com.x.project"}}|{{.Label "none"}}"#), default).unwrap();
        assert_eq!(label.render(&labelled, HEADERS).unwrap(), "web|\n");
        let err = Format::parse(Some("{{.Names"), default).unwrap_err();
        assert_eq!(format!("{err:#}"), "template parsing error: template: :1:1: unclosed action");
    }

    #[test]
    fn inspect_prints_a_json_array_or_one_rendering_per_object() {
        let docs = [serde_json::json!({"Name": "a"}), serde_json::json!({"Name": "b"})];
        assert_eq!(InspectFormat::parse(Some("{{.Name}}")).unwrap().render(&docs).unwrap(), "a\nb\n");
        let json = InspectFormat::parse(None).unwrap().render(&docs).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), serde_json::json!(docs));
        assert_eq!(InspectFormat::parse(Some("{{.Nope}}")).unwrap().render(&docs).unwrap(), "<no value>\n<no value>\n");
    }
}
