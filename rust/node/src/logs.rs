//! JSON-lines logs on stdout (docs/protocol.md §13): one object per line with `time`
//! (Unix seconds, a number), `level`, `event`, `node` and the event's own fields.
//!
//! Write events as `tracing::info!(event = "block.committed", height = 7)`, or with the
//! event name as the message: `tracing::info!(height = 7, "block.committed")`.

use std::io::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Number, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::LogLevel;

/// The level names of the config (`[log] level`) and of every log line.
pub fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl LogLevel {
    fn filter(self) -> LevelFilter {
        match self {
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warning => LevelFilter::WARN,
            LogLevel::Error => LevelFilter::ERROR,
        }
    }
}

/// Collects an event's fields into a JSON object.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_owned(), value);
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(
            field,
            Number::from_f64(value).map_or(Value::Null, Value::Number),
        );
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }
}

/// Renders one event as the JSON object of its log line.
pub fn render(node: &str, level: &Level, time: f64, fields: Map<String, Value>) -> Value {
    let mut fields = fields;
    let message = fields.remove("message");
    let (event, message) = match fields.remove("event") {
        Some(event) => (event, message),
        None => (message.unwrap_or(Value::from("")), None),
    };
    let mut line = Map::new();
    line.insert(
        "time".into(),
        Number::from_f64(time).map_or(Value::Null, Value::Number),
    );
    line.insert("level".into(), Value::from(level_name(level)));
    line.insert("event".into(), event);
    line.insert("node".into(), Value::from(node));
    if let Some(m) = message {
        line.insert("message".into(), m);
    }
    for (k, v) in fields {
        line.entry(k).or_insert(v);
    }
    Value::Object(line)
}

/// The layer that writes each event as one JSON line to `out`.
pub struct JsonLines<W: Write + Send + 'static> {
    node: String,
    out: Mutex<W>,
}

impl<W: Write + Send + 'static> JsonLines<W> {
    pub fn new(node: &str, out: W) -> Self {
        Self {
            node: node.to_owned(),
            out: Mutex::new(out),
        }
    }
}

impl<S: Subscriber, W: Write + Send + 'static> Layer<S> for JsonLines<W> {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        let mut line = render(&self.node, event.metadata().level(), time, fields.0).to_string();
        line.push('\n');
        if let Ok(mut out) = self.out.lock() {
            // A closed stdout must not take the node down: the line is lost, nothing else.
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}

/// Installs the JSON-lines logger for this process (stdout, at `level`). Once per process.
pub fn init(node: &str, level: LogLevel) {
    let layer = JsonLines::new(node, std::io::stdout()).with_filter(level.filter());
    // A second init (tests) keeps the first subscriber.
    if tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .is_ok()
    {
        // A panic is a log line too, not a multi-line message on stderr.
        std::panic::set_hook(Box::new(|info| {
            tracing::error!(event = "node.panicked", message = %info);
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(buf: &Buf) -> Vec<Value> {
        String::from_utf8(buf.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn events_are_json_lines_with_time_level_event_node_and_fields() {
        let buf = Buf::default();
        let sub = tracing_subscriber::registry()
            .with(JsonLines::new("v3", buf.clone()).with_filter(LogLevel::Info.filter()));
        tracing::subscriber::with_default(sub, || {
            tracing::info!(event = "block.committed", height = 7u64, hash = "ab");
            tracing::warn!(peer = "v1", "peer.lost");
            tracing::debug!("not.shown");
        });
        let got = lines(&buf);
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0]["event"], "block.committed");
        assert_eq!(got[0]["level"], "info");
        assert_eq!(got[0]["node"], "v3");
        assert_eq!(got[0]["height"], 7);
        assert!(got[0]["time"].as_f64().unwrap() > 1.7e9);
        assert_eq!(got[1]["event"], "peer.lost");
        assert_eq!(got[1]["level"], "warning");
        assert_eq!(got[1]["peer"], "v1");
    }

    #[test]
    fn a_field_cannot_overwrite_the_line_keys() {
        let mut fields = Map::new();
        fields.insert("event".into(), Value::from("x"));
        fields.insert("node".into(), Value::from("spoof"));
        let line = render("v0", &Level::ERROR, 1.5, fields);
        assert_eq!(line["node"], "v0");
        assert_eq!(line["level"], "error");
        assert_eq!(line["time"], 1.5);
    }
}
