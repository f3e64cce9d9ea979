//! The standard process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`, `process_threads`),
//! read from /proc at each scrape by the prometheus crate's process collector. Without /proc
//! (not Linux) they are absent rather than zero. `process_start_time_seconds` is not among
//! them: the core renders it from `Extras::started` on every platform, because the alert rules
//! need it, and a family may appear only once.

use iot_canary_core::render::metrics::Family;

/// The process family the core renders itself.
const RENDERED_BY_CORE: &str = "process_start_time_seconds";

pub struct ProcessMetrics {
    #[cfg(target_os = "linux")]
    collector: prometheus::process_collector::ProcessCollector,
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        ProcessMetrics {
            #[cfg(target_os = "linux")]
            collector: prometheus::process_collector::ProcessCollector::for_self(),
        }
    }
}

impl ProcessMetrics {
    /// This process's families now (CPU seconds in whole seconds, as the collector counts).
    pub fn families(&self) -> Vec<Family> {
        #[cfg(target_os = "linux")]
        {
            use prometheus::core::Collector;
            let mut families = self.collector.collect();
            families.retain(|f| f.name() != RENDERED_BY_CORE);
            families
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = RENDERED_BY_CORE;
            Vec::new()
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_leaves_the_start_time_to_the_core() {
        let f = ProcessMetrics::default().families();
        let names: Vec<&str> = f.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "process_cpu_seconds_total",
                "process_open_fds",
                "process_max_fds",
                "process_virtual_memory_bytes",
                "process_resident_memory_bytes",
                "process_threads",
            ]
        );
        let value = |name: &str| {
            let m = &f.iter().find(|f| f.name() == name).unwrap().get_metric()[0];
            m.get_gauge().get_value()
        };
        assert!(value("process_resident_memory_bytes") > 1_000_000.0);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
    }
}
