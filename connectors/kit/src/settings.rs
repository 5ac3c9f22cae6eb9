//! Settings a connector reads from `[connectors.X.settings]`, each with the value used when the
//! pipeline leaves it out: declared once, for the manifest and for reading.

use crate::{Error, Host, SettingSpec};

/// One optional setting: its name, its default and what it is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// Its key in `[connectors.X.settings]`.
    pub name: &'static str,
    /// The value used when it is unset or blank (`""`: no default).
    pub default: &'static str,
    /// What it is for, as `junction connector inspect` shows it.
    pub description: &'static str,
}

impl Setting {
    /// As the manifest declares it: optional, not sensitive, the default named in the
    /// description.
    pub fn spec(&self) -> SettingSpec {
        SettingSpec {
            name: self.name.into(),
            description: if self.default.is_empty() {
                self.description.into()
            } else {
                format!("{} (default `{}`)", self.description, self.default)
            },
            required: false,
            sensitive: false,
        }
    }

    /// Its value, trimmed, or the default when unset or blank.
    pub fn get(&self, host: &dyn Host) -> String {
        match host.setting(self.name) {
            Some(v) if !v.trim().is_empty() => v.trim().to_owned(),
            _ => self.default.to_owned(),
        }
    }

    /// A value the connector cannot work with. The contract has no configuration error, and
    /// `unsupported` is the variant that says "this connector cannot do that" without a retry.
    pub fn invalid(&self, value: &str, expected: &str) -> Error {
        Error::Unsupported(format!(
            "setting `{}` must be {expected}, got `{value}`",
            self.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;

    const MODE: Setting = Setting {
        name: "mode",
        default: "fast",
        description: "How to go",
    };

    #[test]
    fn a_blank_or_missing_setting_reads_as_its_default() {
        assert_eq!(MODE.get(&FakeHost::at(0)), "fast");
        assert_eq!(
            MODE.get(&FakeHost::at(0).with_setting("mode", "  ")),
            "fast"
        );
        assert_eq!(
            MODE.get(&FakeHost::at(0).with_setting("mode", " slow ")),
            "slow"
        );
        assert_eq!(MODE.spec().description, "How to go (default `fast`)");
        assert_eq!(
            MODE.invalid("x", "fast or slow").to_string(),
            "unsupported: setting `mode` must be fast or slow, got `x`"
        );
    }
}
