//! A small writer of the Prometheus text exposition format (version 0.0.4), for the metrics
//! computed at scrape time. Each family is written whole: `# HELP`, `# TYPE`, then samples.

use std::fmt::Write;

/// Prometheus text being built.
#[derive(Debug, Default)]
pub struct PromText {
    /// The text so far.
    out: String,
}

/// Escapes a label value (`\`, `"` and newlines).
fn escape_label(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Escapes help text (`\` and newlines).
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Formats a sample value as Prometheus expects (`NaN`, `+Inf`, `-Inf`, or a number).
fn format_value(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

impl PromText {
    /// An empty text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: `kind` is `gauge` or `counter`.
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_label(v, &mut self.out);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        format_value(value, &mut self.out);
        self.out.push('\n');
    }

    /// A family with one unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_families_with_escaped_labels() {
        let mut t = PromText::new();
        t.family("rill_x", "gauge", "An x.\nTwo lines");
        t.sample("rill_x", &[("topic", "a\"b\\c"), ("partition", "0")], 3.0);
        t.sample("rill_x", &[], f64::NAN);
        t.single("rill_y", "counter", "Y", 1.5);
        assert_eq!(
            t.finish(),
            "# HELP rill_x An x.\\nTwo lines\n# TYPE rill_x gauge\n\
             rill_x{topic=\"a\\\"b\\\\c\",partition=\"0\"} 3\nrill_x NaN\n\
             # HELP rill_y Y\n# TYPE rill_y counter\nrill_y 1.5\n"
        );
    }
}
