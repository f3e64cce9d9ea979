//! Process exit codes (interface: documented in README and ARCHITECTURE.md).

/// What a command's outcome means to a caller (CI gate, systemd, a shell).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// Every deny canary denied and every control allowed; `policy test`: all cases agree.
    Ok,
    /// At least one breach; `policy test`: a case disagrees.
    Breach,
    /// No breach, but something was inconclusive or a control failed: the canary was blind.
    Blind,
    /// Config or usage error (bad file, bad flag).
    Usage,
}

impl Exit {
    pub const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Breach => 1,
            Exit::Blind => 2,
            Exit::Usage => 3,
        }
    }

    /// The worse of two outcomes; breach outranks blind outranks ok.
    pub fn worst(self, other: Exit) -> Exit {
        fn rank(e: Exit) -> u8 {
            match e {
                Exit::Ok => 0,
                Exit::Blind => 1,
                Exit::Breach => 2,
                Exit::Usage => 3,
            }
        }
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_orders_breach_over_blind_over_ok() {
        assert_eq!(Exit::Ok.worst(Exit::Blind), Exit::Blind);
        assert_eq!(Exit::Blind.worst(Exit::Breach), Exit::Breach);
        assert_eq!(Exit::Breach.worst(Exit::Blind), Exit::Breach);
        assert_eq!(Exit::Ok.worst(Exit::Ok), Exit::Ok);
        assert_eq!(Exit::Breach.code(), 1);
        assert_eq!(Exit::Usage.code(), 3);
    }
}
