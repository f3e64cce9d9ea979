//! JUnit XML: one test case per canary; breaches and control failures are failures,
//! inconclusive probes are errors (the gate could not see).

use crate::evidence::describe;
use crate::store::CanaryReport;
use crate::verdict::Standing;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => o.push(c),
        }
    }
    o
}

pub fn junit(reports: &[CanaryReport]) -> String {
    let s = super::summary(reports);
    let secs: f64 = reports.iter().map(|r| r.duration_ms as f64 / 1000.0).sum();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    o.push_str(&format!(
        "<testsuites>\n<testsuite name=\"iot-canary\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{secs:.3}\">\n",
        reports.len(),
        s.breach + s.control_failed,
        s.blind
    ));
    for r in reports {
        o.push_str(&format!(
            "  <testcase classname=\"iot-canary.{}\" name=\"{}\" time=\"{:.3}\">\n",
            esc(&r.identity),
            esc(&r.canary),
            r.duration_ms as f64 / 1000.0
        ));
        let what = describe(&r.evidence.observation);
        match r.standing {
            Standing::Ok => {}
            Standing::Breach => o.push_str(&format!(
                "    <failure type=\"breach\" message=\"{} was allowed: {}\"/>\n",
                esc(&r.subject),
                esc(&what)
            )),
            Standing::ControlFailed => o.push_str(&format!(
                "    <failure type=\"control_failed\" message=\"control refused: {}\"/>\n",
                esc(&what)
            )),
            Standing::Blind => {
                let reason = match r.verdict {
                    crate::verdict::Verdict::Inconclusive(reason) => reason.as_str(),
                    _ => "inconclusive",
                };
                o.push_str(&format!(
                    "    <error type=\"inconclusive\" message=\"inconclusive({reason}): {}\"/>\n",
                    esc(&what)
                ))
            }
        }
        o.push_str("    <system-out>");
        for st in &r.evidence.steps {
            o.push_str(&esc(&format!("+{}ms {}\n", st.at_ms, st.what)));
        }
        o.push_str("</system-out>\n  </testcase>\n");
    }
    o.push_str("</testsuite>\n</testsuites>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_marks_breach_as_failure_and_blind_as_error() {
        let x = junit(&crate::report::tests::rows());
        assert!(x.contains("tests=\"4\" failures=\"1\" errors=\"1\""), "{x}");
        assert!(x.contains("<failure type=\"breach\""), "{x}");
        assert!(x.contains("inconclusive(timeout)"), "{x}");
        assert!(x.contains("QoS 1 &lt;&amp;&gt;"), "escaping: {x}");
        assert_eq!(x.matches("<testcase ").count(), 4);
    }
}
