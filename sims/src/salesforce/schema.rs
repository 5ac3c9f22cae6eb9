//! The org's schema: objects with key prefixes, their fields (type, length, required, unique,
//! external id) and the validation rules a test adds. Names are case-insensitive, as in the API.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A field's data type, with what Salesforce checks on write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Kind {
    /// Text, Text Area, Phone, URL: a string of at most `length` characters.
    Text {
        length: usize,
    },
    /// An email address of at most 80 characters.
    Email,
    /// A restricted picklist: one of `values`, exactly.
    Picklist {
        values: Vec<String>,
    },
    /// Number, Currency, Percent.
    Number,
    Checkbox,
    Date,
    DateTime,
    /// A lookup to another object (an id of its key prefix).
    Reference {
        to: String,
    },
    /// Auto Number: set by Salesforce on create, never writable; `SUB-{000000}`.
    AutoNumber {
        format: String,
    },
}

/// One field of an object. (Not `deny_unknown_fields`: serde cannot combine it with the
/// flattened `kind`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    /// The API name, `Stripe_Customer_Id__c`.
    pub name: String,
    /// What error messages call the field (`Account Name`).
    pub label: String,
    #[serde(flatten)]
    pub kind: Kind,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub unique: bool,
    #[serde(default)]
    pub external_id: bool,
    /// Unique and external-id matching compare case-sensitively (the "case sensitive" option
    /// of a unique field); case-insensitive otherwise, Salesforce's default.
    #[serde(default)]
    pub case_sensitive: bool,
}

impl FieldDef {
    fn new(name: &str, kind: Kind) -> Self {
        let label = name
            .trim_end_matches("__c")
            .replace('_', " ")
            .trim()
            .to_owned();
        Self {
            name: name.to_owned(),
            label,
            kind,
            required: false,
            unique: false,
            external_id: false,
            case_sensitive: false,
        }
    }

    pub fn text(name: &str, length: usize) -> Self {
        Self::new(name, Kind::Text { length })
    }

    pub fn email(name: &str) -> Self {
        Self::new(name, Kind::Email)
    }

    pub fn number(name: &str) -> Self {
        Self::new(name, Kind::Number)
    }

    pub fn checkbox(name: &str) -> Self {
        Self::new(name, Kind::Checkbox)
    }

    pub fn date(name: &str) -> Self {
        Self::new(name, Kind::Date)
    }

    pub fn datetime(name: &str) -> Self {
        Self::new(name, Kind::DateTime)
    }

    pub fn picklist(name: &str, values: &[&str]) -> Self {
        let values = values.iter().map(|v| (*v).to_owned()).collect();
        Self::new(name, Kind::Picklist { values })
    }

    pub fn reference(name: &str, to: &str) -> Self {
        Self::new(name, Kind::Reference { to: to.to_owned() })
    }

    pub fn auto_number(name: &str, format: &str) -> Self {
        Self::new(
            name,
            Kind::AutoNumber {
                format: format.to_owned(),
            },
        )
    }

    pub fn labelled(mut self, label: &str) -> Self {
        self.label = label.to_owned();
        self
    }

    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    pub fn unique(mut self) -> Self {
        self.unique = true;
        self
    }

    /// An External ID field: addressable by upsert and get-by-external-id.
    pub fn external_id(mut self) -> Self {
        self.external_id = true;
        self
    }

    /// Text compared the way this field's unique/external-id index compares it.
    pub fn key(&self, v: &Value) -> Option<String> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        Some(if self.case_sensitive {
            s
        } else {
            s.to_lowercase()
        })
    }

    /// The relationship name a body uses to set this lookup by the parent's external id:
    /// `Account__c` -> `Account__r`, `AccountId` -> `Account`.
    pub fn relationship_name(&self) -> Option<String> {
        if !matches!(self.kind, Kind::Reference { .. }) {
            return None;
        }
        if let Some(base) = self.name.strip_suffix("__c") {
            Some(format!("{base}__r"))
        } else {
            self.name.strip_suffix("Id").map(str::to_owned)
        }
    }
}

/// One sObject type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectDef {
    pub name: String,
    pub label: String,
    /// The id key prefix: `001` for Account, `a0X`-style for custom objects.
    pub key_prefix: String,
    pub fields: Vec<FieldDef>,
}

/// Fields every object has, set by Salesforce and never writable (retrieve and SOQL see them).
pub const SYSTEM_FIELDS: &[&str] = &[
    "Id",
    "IsDeleted",
    "CreatedDate",
    "CreatedById",
    "LastModifiedDate",
    "LastModifiedById",
    "SystemModstamp",
];

impl ObjectDef {
    pub fn new(name: &str, label: &str, key_prefix: &str) -> Self {
        Self {
            name: name.to_owned(),
            label: label.to_owned(),
            key_prefix: key_prefix.to_owned(),
            fields: Vec::new(),
        }
    }

    pub fn field(mut self, field: FieldDef) -> Self {
        self.fields.push(field);
        self
    }

    pub fn custom(&self) -> bool {
        self.name.ends_with("__c")
    }

    pub fn find(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The canonical name of a system field.
    pub fn system(name: &str) -> Option<&'static str> {
        SYSTEM_FIELDS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(name))
            .copied()
    }

    pub fn system_fields() -> impl Iterator<Item = &'static str> {
        SYSTEM_FIELDS.iter().copied()
    }

    /// Every readable field name: system fields, then the object's, in describe order.
    pub fn all_names(&self) -> Vec<String> {
        SYSTEM_FIELDS
            .iter()
            .map(|s| (*s).to_owned())
            .chain(self.fields.iter().map(|f| f.name.clone()))
            .collect()
    }

    /// The canonical name of any readable field.
    pub fn readable(&self, name: &str) -> Option<String> {
        Self::system(name)
            .map(str::to_owned)
            .or_else(|| self.find(name).map(|f| f.name.clone()))
    }
}

/// The org's objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub objects: Vec<ObjectDef>,
}

impl Schema {
    pub fn object(&self, name: &str) -> Option<&ObjectDef> {
        self.objects
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }

    pub fn by_prefix(&self, prefix: &str) -> Option<&ObjectDef> {
        self.objects.iter().find(|o| o.key_prefix == prefix)
    }
}

const SUBSCRIPTION_STATUSES: &[&str] = &[
    "trialing",
    "active",
    "past_due",
    "canceled",
    "unpaid",
    "incomplete",
    "incomplete_expired",
    "paused",
];

impl Default for Schema {
    /// An org with Account, Contact and the custom objects a billing integration keeps in step:
    /// `Subscription__c` (a0X) and `Invoice__c` (a0Y), keyed by Stripe and Cleverbridge ids.
    fn default() -> Self {
        let account = ObjectDef::new("Account", "Account", "001")
            .field(
                FieldDef::text("Name", 255)
                    .labelled("Account Name")
                    .required(),
            )
            .field(FieldDef::text("AccountNumber", 40).labelled("Account Number"))
            .field(FieldDef::text("Phone", 40).labelled("Account Phone"))
            .field(FieldDef::text("Website", 255))
            .field(FieldDef::text("BillingStreet", 255).labelled("Billing Street"))
            .field(FieldDef::text("BillingCity", 40).labelled("Billing City"))
            .field(FieldDef::text("BillingPostalCode", 20).labelled("Billing Zip/Postal Code"))
            .field(FieldDef::text("BillingCountry", 80).labelled("Billing Country"))
            .field(FieldDef::text("Description", 32_000).labelled("Account Description"))
            .field(
                FieldDef::text("Stripe_Customer_Id__c", 255)
                    .labelled("Stripe Customer Id")
                    .external_id()
                    .unique(),
            )
            .field(
                FieldDef::text("Cleverbridge_Customer_Id__c", 255)
                    .labelled("Cleverbridge Customer Id")
                    .external_id()
                    .unique(),
            )
            // An external id that is not unique: several accounts may carry one (fact sheet §2,
            // the 300 answer).
            .field(
                FieldDef::text("NetSuite_Customer_Id__c", 255)
                    .labelled("NetSuite Customer Id")
                    .external_id(),
            )
            .field(FieldDef::email("Billing_Email__c").labelled("Billing Email"))
            .field(
                FieldDef::picklist(
                    "Payment_Status__c",
                    &["Current", "Past Due", "Delinquent", "Canceled"],
                )
                .labelled("Payment Status"),
            )
            .field(FieldDef::number("Balance__c"))
            .field(FieldDef::checkbox("Delinquent__c"));
        let contact = ObjectDef::new("Contact", "Contact", "003")
            .field(FieldDef::text("FirstName", 40).labelled("First Name"))
            .field(
                FieldDef::text("LastName", 80)
                    .labelled("Last Name")
                    .required(),
            )
            .field(FieldDef::email("Email"))
            .field(FieldDef::reference("AccountId", "Account").labelled("Account ID"));
        let subscription = ObjectDef::new("Subscription__c", "Subscription", "a0X")
            .field(FieldDef::auto_number("Name", "SUB-{000000}").labelled("Subscription Number"))
            .field(
                FieldDef::text("Stripe_Subscription_Id__c", 255)
                    .labelled("Stripe Subscription Id")
                    .external_id()
                    .unique(),
            )
            .field(
                FieldDef::text("Cleverbridge_Subscription_Id__c", 255)
                    .labelled("Cleverbridge Subscription Id")
                    .external_id()
                    .unique(),
            )
            .field(
                FieldDef::reference("Account__c", "Account")
                    .labelled("Account")
                    .required(),
            )
            .field(FieldDef::picklist("Status__c", SUBSCRIPTION_STATUSES).labelled("Status"))
            .field(FieldDef::text("Plan__c", 255).labelled("Plan"))
            .field(FieldDef::number("Quantity__c").labelled("Quantity"))
            .field(FieldDef::number("Amount__c").labelled("Amount"))
            .field(FieldDef::text("Currency__c", 3).labelled("Currency"))
            .field(FieldDef::datetime("Current_Period_Start__c"))
            .field(FieldDef::datetime("Current_Period_End__c"))
            .field(FieldDef::checkbox("Cancel_At_Period_End__c"))
            .field(FieldDef::datetime("Canceled_At__c"));
        let invoice = ObjectDef::new("Invoice__c", "Invoice", "a0Y")
            .field(FieldDef::auto_number("Name", "INV-{000000}").labelled("Invoice Number"))
            .field(
                FieldDef::text("Stripe_Invoice_Id__c", 255)
                    .labelled("Stripe Invoice Id")
                    .external_id()
                    .unique(),
            )
            .field(
                FieldDef::reference("Account__c", "Account")
                    .labelled("Account")
                    .required(),
            )
            .field(
                FieldDef::reference("Subscription__c", "Subscription__c").labelled("Subscription"),
            )
            .field(
                FieldDef::picklist(
                    "Status__c",
                    &["draft", "open", "paid", "void", "uncollectible"],
                )
                .labelled("Status"),
            )
            .field(FieldDef::number("Amount_Due__c").labelled("Amount Due"))
            .field(FieldDef::number("Amount_Paid__c").labelled("Amount Paid"))
            .field(FieldDef::text("Currency__c", 3).labelled("Currency"))
            .field(FieldDef::date("Due_Date__c").labelled("Due Date"))
            .field(FieldDef::datetime("Paid_At__c").labelled("Paid At"));
        Self {
            objects: vec![account, contact, subscription, invoice],
        }
    }
}

/// A validation rule: when `when` holds for the record as it would be saved, the save fails
/// with `FIELD_CUSTOM_VALIDATION_EXCEPTION` and `error_message` (fact sheet §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRule {
    pub object: String,
    pub name: String,
    pub error_message: String,
    /// The field the error is shown at; `None` is "top of page" (`fields: []`).
    #[serde(default)]
    pub error_field: Option<String>,
    pub when: Condition,
}

/// The error condition formula of a validation rule, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// `ISBLANK(field)`.
    Blank { field: String },
    /// `field = value`.
    Equals { field: String, value: Value },
    /// `field <> value`.
    NotEquals { field: String, value: Value },
    /// `field < value` (numbers); false when blank.
    LessThan { field: String, value: f64 },
    /// `field > value` (numbers); false when blank.
    GreaterThan { field: String, value: f64 },
    /// Every condition holds.
    All { of: Vec<Condition> },
    /// Always true: every save fails.
    Always,
}

impl Condition {
    /// Evaluates against the saved field values (canonical names).
    pub fn holds(&self, get: &dyn Fn(&str) -> Value) -> bool {
        let num = |f: &str| get(f).as_f64();
        match self {
            Self::Blank { field } => match get(field) {
                Value::Null => true,
                Value::String(s) => s.is_empty(),
                _ => false,
            },
            Self::Equals { field, value } => &get(field) == value,
            Self::NotEquals { field, value } => &get(field) != value,
            Self::LessThan { field, value } => num(field).is_some_and(|n| n < *value),
            Self::GreaterThan { field, value } => num(field).is_some_and(|n| n > *value),
            Self::All { of } => of.iter().all(|c| c.holds(get)),
            Self::Always => true,
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn the_default_schema_round_trips_through_json() {
        // `salesforce-sim --schema` reads this form.
        let text = serde_json::to_string(&Schema::default()).unwrap();
        let back: Schema = serde_json::from_str(&text).unwrap();
        assert_eq!(back, Schema::default());
        let minimal: Schema = serde_json::from_value(serde_json::json!({"objects": [
            {"name": "Thing__c", "label": "Thing", "key_prefix": "a0Z", "fields": [
                {"name": "Ext__c", "label": "Ext", "type": "text", "length": 20, "external_id": true}]}]}))
        .unwrap();
        assert!(minimal.objects[0].fields[0].external_id);
    }
}
