//! The settings the connector reads from `[connectors.X.settings]`, with their defaults, and
//! the two sObjects it maps canonical objects onto.

use junction_connector_kit::settings::Setting;
use junction_connector_kit::{Error, Host, SettingSpec};

const BASE_URL: Setting = Setting {
    name: "base-url",
    default: "",
    description: "The org's instance URL; with `auth.instance-url = true` the host passes the token's `instance_url`",
};
const API_VERSION: Setting = Setting {
    name: "api-version",
    default: "62.0",
    description: "The REST API version, `XX.X` (46.0 or later: upserts answer 200 with `created`)",
};
const ACCOUNT_OBJECT: Setting = Setting {
    name: "account-object",
    default: "Account",
    description: "The sObject canonical customers are written to",
};
const ACCOUNT_EXTERNAL_ID: Setting = Setting {
    name: "account-external-id",
    default: "Stripe_Customer_Id__c",
    description: "The External ID field of that object holding the customer's id",
};
const SUBSCRIPTION_OBJECT: Setting = Setting {
    name: "subscription-object",
    default: "Subscription__c",
    description: "The sObject canonical subscriptions are written to",
};
const SUBSCRIPTION_EXTERNAL_ID: Setting = Setting {
    name: "subscription-external-id",
    default: "Stripe_Subscription_Id__c",
    description: "The External ID field of that object holding the subscription's id",
};
const SUBSCRIPTION_ACCOUNT: Setting = Setting {
    name: "subscription-account-field",
    default: "Account__c",
    description: "The subscription's lookup to its account (set through its relationship, `Account__r`, by the account's external id)",
};
const API_SHARE: Setting = Setting {
    name: "api-usage-share",
    default: "90",
    description: "Percent of the org's daily API requests (Sforce-Limit-Info) past which the connector answers rate-limited",
};
const POLL_LAG: Setting = Setting {
    name: "poll-lag-seconds",
    default: "2",
    description: "Poll only records whose SystemModstamp is at least this old, so a second still being written is never passed over",
};

const ALL: [Setting; 9] = [
    BASE_URL,
    API_VERSION,
    ACCOUNT_OBJECT,
    ACCOUNT_EXTERNAL_ID,
    SUBSCRIPTION_OBJECT,
    SUBSCRIPTION_EXTERNAL_ID,
    SUBSCRIPTION_ACCOUNT,
    API_SHARE,
    POLL_LAG,
];

/// The settings as the manifest declares them.
pub(crate) fn specs() -> Vec<SettingSpec> {
    ALL.iter()
        .map(|s| SettingSpec {
            // The instance URL is required; the host supplies it with `instance-url = true`.
            required: s.name == BASE_URL.name,
            ..s.spec()
        })
        .collect()
}

/// The canonical objects this connector handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `customer` <-> `Account`.
    Customer,
    /// `subscription` <-> `Subscription__c`.
    Subscription,
}

impl Kind {
    pub fn parse(object: &str) -> Result<Self, Error> {
        match object {
            "customer" => Ok(Kind::Customer),
            "subscription" => Ok(Kind::Subscription),
            other => Err(Error::Unsupported(format!(
                "the salesforce connector does not handle `{other}` (only customer and subscription)"
            ))),
        }
    }

    pub fn canonical(self) -> &'static str {
        match self {
            Kind::Customer => "customer",
            Kind::Subscription => "subscription",
        }
    }
}

/// The connector's settings, read from the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `https://MyDomain.my.salesforce.com`, without a trailing slash.
    pub base: String,
    /// `62.0`.
    pub version: String,
    pub account_object: String,
    pub account_ext: String,
    pub subscription_object: String,
    pub subscription_ext: String,
    pub subscription_account: String,
    /// Share of the daily limit, 0..=1.
    pub share: f64,
    pub poll_lag_secs: i64,
}

/// A setting the connector cannot work with: `Unauthorized`, which pauses the instance until
/// an operator fixes the pipeline instead of dead-lettering every change.
fn bad(name: &str, why: &str) -> Error {
    Error::Unauthorized(format!("the setting `{name}` {why}"))
}

fn api_name(name: &str, value: String) -> Result<String, Error> {
    let ok = !value.is_empty()
        && value.starts_with(|c: char| c.is_ascii_alphabetic())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(value)
    } else {
        Err(bad(
            name,
            &format!("must be a Salesforce API name, not `{value}`"),
        ))
    }
}

impl Config {
    pub fn from_host(host: &dyn Host) -> Result<Self, Error> {
        Self::read(host, true)
    }

    /// The settings a mapping needs (`expected` makes no request, so needs no base URL).
    pub fn for_mapping(host: &dyn Host) -> Result<Self, Error> {
        Self::read(host, false)
    }

    fn read(host: &dyn Host, needs_base: bool) -> Result<Self, Error> {
        let get = |spec: &Setting| spec.get(host);
        let base = get(&BASE_URL).trim_end_matches('/').to_owned();
        if needs_base && !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(bad(
                BASE_URL.name,
                "must be the org's instance URL (use auth.instance-url = true)",
            ));
        }
        let version = get(&API_VERSION);
        let version = version.strip_prefix('v').unwrap_or(&version).to_owned();
        let valid_version = version
            .split_once('.')
            .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok());
        if !valid_version {
            return Err(bad(
                API_VERSION.name,
                &format!("must look like 62.0, not `{version}`"),
            ));
        }
        let share = get(&API_SHARE)
            .trim_end_matches('%')
            .parse::<f64>()
            .ok()
            .filter(|p| (1.0..=100.0).contains(p))
            .ok_or_else(|| bad(API_SHARE.name, "must be a percentage from 1 to 100"))?;
        let poll_lag_secs = get(&POLL_LAG)
            .parse::<i64>()
            .ok()
            .filter(|s| (0..=3600).contains(s))
            .ok_or_else(|| bad(POLL_LAG.name, "must be seconds from 0 to 3600"))?;
        Ok(Self {
            base,
            version,
            account_object: api_name(ACCOUNT_OBJECT.name, get(&ACCOUNT_OBJECT))?,
            account_ext: api_name(ACCOUNT_EXTERNAL_ID.name, get(&ACCOUNT_EXTERNAL_ID))?,
            subscription_object: api_name(SUBSCRIPTION_OBJECT.name, get(&SUBSCRIPTION_OBJECT))?,
            subscription_ext: api_name(
                SUBSCRIPTION_EXTERNAL_ID.name,
                get(&SUBSCRIPTION_EXTERNAL_ID),
            )?,
            subscription_account: api_name(SUBSCRIPTION_ACCOUNT.name, get(&SUBSCRIPTION_ACCOUNT))?,
            share: share / 100.0,
            poll_lag_secs,
        })
    }

    /// The sObject a kind is written to.
    pub fn object(&self, kind: Kind) -> &str {
        match kind {
            Kind::Customer => &self.account_object,
            Kind::Subscription => &self.subscription_object,
        }
    }

    /// Its External ID field.
    pub fn ext(&self, kind: Kind) -> &str {
        match kind {
            Kind::Customer => &self.account_ext,
            Kind::Subscription => &self.subscription_ext,
        }
    }

    /// The relationship name of the subscription's account lookup: `Account__c` ->
    /// `Account__r`, `AccountId` -> `Account` (fact sheet §2, related records by external id).
    pub fn account_relationship(&self) -> String {
        let f = &self.subscription_account;
        if let Some(base) = f.strip_suffix("__c") {
            format!("{base}__r")
        } else if let Some(base) = f.strip_suffix("Id") {
            base.to_owned()
        } else {
            f.clone()
        }
    }

    /// `{base}/services/data/vXX.X`.
    pub fn root(&self) -> String {
        format!("{}/services/data/v{}", self.base, self.version)
    }
}
