//! JUnit XML through `quick-junit` (the serializer nextest uses: escaping, control characters
//! and the attribute set CI systems read are its business). One test case per canary;
//! breaches and control failures are failures, inconclusive probes are errors (the gate could
//! not see); an interrupted run says so in a suite property.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use crate::evidence::describe;
use crate::store::CanaryReport;
use crate::verdict::{Standing, Verdict};

fn status(r: &CanaryReport) -> TestCaseStatus {
    let what = describe(&r.evidence.observation);
    let (kind, ty, message) = match r.standing {
        Standing::Ok => return TestCaseStatus::success(),
        Standing::Breach => (
            NonSuccessKind::Failure,
            "breach",
            format!("{} was allowed: {what}", r.subject),
        ),
        Standing::ControlFailed => (
            NonSuccessKind::Failure,
            "control_failed",
            format!("control refused: {what}"),
        ),
        Standing::Blind => {
            let reason = match r.verdict {
                Verdict::Inconclusive(reason) => reason.as_str(),
                _ => "inconclusive",
            };
            (
                NonSuccessKind::Error,
                "inconclusive",
                format!("inconclusive({reason}): {what}"),
            )
        }
    };
    let mut s = TestCaseStatus::non_success(kind);
    s.set_type(ty).set_message(message);
    s
}

pub fn junit(run: &super::RunInfo, reports: &[CanaryReport]) -> String {
    let mut suite = TestSuite::new("iot-canary");
    suite.add_property(Property::new("tool_version", super::envelope::VERSION));
    if run.incomplete {
        suite.add_property(Property::new("incomplete", "true"));
    }
    if let Some(e) = &run.endpoint {
        suite.add_property(Property::new("endpoint", e.as_str()));
    }
    for r in reports {
        let mut case = TestCase::new(r.canary.as_str(), status(r));
        case.set_classname(format!("iot-canary.{}", r.identity))
            .set_time(Duration::from_millis(r.duration_ms));
        let steps: String = r
            .evidence
            .steps
            .iter()
            .map(|st| format!("+{}ms {}\n", st.at_ms, st.what))
            .collect();
        case.set_system_out(steps);
        suite.add_test_case(case);
    }
    let mut report = Report::new("iot-canary");
    report.add_test_suite(suite);
    // The report holds only strings and numbers; quick-junit's writer fails only on IO errors,
    // and it writes to memory here.
    report.to_string().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_marks_breach_as_failure_and_blind_as_error() {
        let x = junit(&crate::report::tests::run(), &crate::report::tests::rows());
        assert!(x.contains("tests=\"4\""), "{x}");
        assert!(x.contains("failures=\"1\""), "{x}");
        assert!(x.contains("errors=\"1\""), "{x}");
        assert!(x.contains("type=\"breach\""), "{x}");
        assert!(x.contains("inconclusive(timeout)"), "{x}");
        assert!(x.contains("QoS 1 &lt;&amp;&gt;"), "escaping: {x}");
        assert_eq!(x.matches("<testcase ").count(), 4);
        assert!(!x.contains("incomplete"), "{x}");
        let mut cut = crate::report::tests::run();
        cut.incomplete = true;
        let x = junit(&cut, &crate::report::tests::rows());
        assert!(x.contains("name=\"incomplete\" value=\"true\""), "{x}");
    }
}
