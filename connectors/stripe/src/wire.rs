//! Stripe's payloads (events, subscriptions, customers, invoices) as typed serde structs that
//! borrow from the body and hold only the fields the mapping reads; every other field is
//! skipped without being built.
//!
//! The types read exactly as the mapping read `serde_json::Value` before them, so behaviour is
//! unchanged on any input (`tests/typed.rs` checks both side by side):
//! - every field is lenient: a value of another JSON type reads as absent (`Value::as_str` and
//!   friends gave `None`), never as an error; a non-object where an object is expected reads
//!   as an object with every field absent (indexing a non-object gave `null`);
//! - a repeated key keeps its last value, as `serde_json::Map` did;
//! - each field remembers whether its key was present, because `previous_attributes` is laid
//!   over the object key by key ([`Overlay`]) and a key present with `null` replaces;
//! - skipped values still go through serde_json's full parser (`deserialize_any`), so what was
//!   refused before (invalid UTF-8 in a string, a lone surrogate escape, nesting deeper than
//!   128) is refused now, with the same error.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// Any JSON value, parsed and validated like `serde_json::Value` but not kept.
pub(crate) struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Kind::<Skip>::new()).map(|_| Skip)
    }
}

/// The shape of a JSON value as far as one field's reader cares: the scalar it wants, or
/// something else (consumed and dropped).
enum Shape<'de> {
    Str(Cow<'de, str>),
    U64(u64),
    I64(i64),
    Bool(bool),
    Null,
    Other,
}

/// A visitor that reads any value into a [`Shape`], draining maps and sequences with [`Skip`].
struct Kind<T>(PhantomData<T>);

impl<T> Kind<T> {
    fn new() -> Self {
        Self(PhantomData)
    }
}

impl<'de, T> Visitor<'de> for Kind<T> {
    type Value = Shape<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Shape::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Shape::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Shape::Str(Cow::Owned(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Shape::U64(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Shape::I64(v))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Shape::Other)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Shape::Bool(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Shape::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Shape::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Shape::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Shape::Other)
    }
}

/// Lays `previous_attributes` over an object: nested objects merge key by key, anything else
/// (arrays included) is replaced.
pub(crate) trait Overlay {
    fn overlay(&mut self, previous: Self);
}

macro_rules! scalar {
    ($(#[$doc:meta])* $name:ident $(<$a:lifetime>)?, $t:ty, |$shape:ident| $read:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub(crate) struct $name$(<$a>)?(pub(crate) Option<$t>);

        impl<'de $(: $a, $a)?> Deserialize<'de> for $name$(<$a>)? {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let $shape = d.deserialize_any(Kind::<Self>::new())?;
                Ok(Self($read))
            }
        }

        impl$(<$a>)? Overlay for $name$(<$a>)? {
            fn overlay(&mut self, previous: Self) {
                *self = previous;
            }
        }
    };
}

scalar!(
    /// `Value::as_str`.
    Str<'a>, Cow<'a, str>, |shape| match shape { Shape::Str(s) => Some(s), _ => None }
);
scalar!(
    /// `Value::as_i64`.
    Int, i64, |shape| match shape {
        Shape::I64(n) => Some(n),
        Shape::U64(n) => i64::try_from(n).ok(),
        _ => None,
    }
);
scalar!(
    /// `Value::as_u64`.
    UInt, u64, |shape| match shape {
        Shape::U64(n) => Some(n),
        Shape::I64(n) => u64::try_from(n).ok(),
        _ => None,
    }
);
scalar!(
    /// `Value::as_bool`.
    Bool, bool, |shape| match shape { Shape::Bool(b) => Some(b), _ => None }
);

/// `interval_count`: `null` (or absent), a whole number, or something else.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum Count {
    #[default]
    Null,
    Whole(u64),
    Other,
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match d.deserialize_any(Kind::<Self>::new())? {
            Shape::Null => Count::Null,
            Shape::U64(n) => Count::Whole(n),
            Shape::I64(n) => u64::try_from(n).map_or(Count::Other, Count::Whole),
            _ => Count::Other,
        })
    }
}

impl Overlay for Count {
    fn overlay(&mut self, previous: Self) {
        *self = previous;
    }
}

/// A struct read from a JSON object, one key at a time (the last of a repeated key wins).
pub(crate) trait FromMap<'de>: Default {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error>;
}

/// An object key, borrowed when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match d.deserialize_any(Kind::<Self>::new())? {
            Shape::Str(s) => Ok(Key(s)),
            _ => Err(de::Error::custom("an object key that is not a string")),
        }
    }
}

/// `T` if the value is an object, `None` (the value consumed) otherwise: `Value::is_object`
/// and what indexing reads through it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Obj<T>(pub(crate) Option<T>);

struct ObjVisitor<T>(PhantomData<T>);

impl<'de, T: FromMap<'de>> Visitor<'de> for ObjVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut t = T::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            t.field(&key.0, &mut map)?;
        }
        Ok(Some(t))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
}

impl<'de, T: FromMap<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjVisitor(PhantomData)).map(Obj)
    }
}

impl<T: Overlay> Overlay for Obj<T> {
    fn overlay(&mut self, previous: Self) {
        match (&mut self.0, previous.0) {
            (Some(current), Some(previous)) => current.overlay(previous),
            (current, previous) => *current = previous,
        }
    }
}

/// A field Stripe sends either as an id or expanded into its object (`customer`, `price`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) enum IdOr<'a, T> {
    #[default]
    Other,
    Id(Cow<'a, str>),
    Obj(T),
}

/// Objects that have an `id`.
pub(crate) trait HasId {
    fn id(&self) -> Option<&str>;
}

impl<T: HasId> IdOr<'_, T> {
    /// The id, given as is or inside the object; an empty one counts as none.
    pub(crate) fn id(&self) -> Option<&str> {
        self.raw_id().filter(|id| !id.is_empty())
    }

    /// The id, given as is or inside the object, even an empty one.
    pub(crate) fn raw_id(&self) -> Option<&str> {
        match self {
            IdOr::Id(id) => Some(id.as_ref()),
            IdOr::Obj(t) => t.id(),
            IdOr::Other => None,
        }
    }

    /// The object, if it was expanded.
    pub(crate) fn object(&self) -> Option<&T> {
        match self {
            IdOr::Obj(t) => Some(t),
            _ => None,
        }
    }
}

struct IdOrVisitor<'a, T>(PhantomData<(&'a (), T)>);

impl<'de, T: FromMap<'de>> Visitor<'de> for IdOrVisitor<'de, T> {
    type Value = IdOr<'de, T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(IdOr::Id(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(IdOr::Id(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(IdOr::Id(Cow::Owned(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(ObjVisitor::<T>(PhantomData)
            .visit_map(map)?
            .map_or(IdOr::Other, IdOr::Obj))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(IdOr::Other)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(IdOr::Other)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(IdOr::Other)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(IdOr::Other)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(IdOr::Other)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(IdOr::Other)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(IdOr::Other)
    }
}

impl<'de, T: FromMap<'de>> Deserialize<'de> for IdOr<'de, T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IdOrVisitor(PhantomData))
    }
}

impl<T: Overlay> Overlay for IdOr<'_, T> {
    fn overlay(&mut self, previous: Self) {
        match (self, previous) {
            (IdOr::Obj(current), IdOr::Obj(previous)) => current.overlay(previous),
            (current, previous) => *current = previous,
        }
    }
}

/// A JSON array (`Value::as_array`): its elements, each read as `T` (a non-object element as
/// an object with every field absent); `None` when the value is not an array.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct List<T>(pub(crate) Option<Vec<T>>);

struct ListVisitor<T>(PhantomData<T>);

impl<'de, T: FromMap<'de>> Visitor<'de> for ListVisitor<T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Obj(element)) = seq.next_element::<Obj<T>>()? {
            out.push(element.unwrap_or_default());
        }
        Ok(Some(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
}

impl<'de, T: FromMap<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ListVisitor(PhantomData)).map(List)
    }
}

impl<T> Overlay for List<T> {
    fn overlay(&mut self, previous: Self) {
        *self = previous;
    }
}

/// `metadata`: its keys with their string values (`None` for a value of another type), or
/// `None` when it is not an object.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Metadata<'a>(pub(crate) Option<BTreeMap<Cow<'a, str>, Option<Cow<'a, str>>>>);

#[derive(Default)]
struct MetadataMap<'a>(BTreeMap<Cow<'a, str>, Option<Cow<'a, str>>>);

impl<'de> FromMap<'de> for MetadataMap<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
        // `field` gets the key unescaped and borrowed for the call only; metadata keys are
        // few and short.
        let Str(value) = map.next_value::<Str<'de>>()?;
        self.0.insert(Cow::Owned(key.to_owned()), value);
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Metadata<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Obj(map) = Obj::<MetadataMap<'de>>::deserialize(d)?;
        Ok(Metadata(map.map(|m| m.0)))
    }
}

impl Overlay for Metadata<'_> {
    fn overlay(&mut self, previous: Self) {
        match (&mut self.0, previous.0) {
            (Some(current), Some(previous)) => current.extend(previous),
            (current, previous) => *current = previous,
        }
    }
}

/// A field's JSON key: its name, or the literal given for it.
macro_rules! key_of {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident, $key:literal) => {
        $key
    };
}

/// Declares a struct read from a JSON object by [`FromMap`], each field `Option<T>` (`None`:
/// the key was absent), with a key-by-key [`Overlay`].
macro_rules! object {
    ($(#[$doc:meta])* $name:ident<$a:lifetime> { $($field:ident $([$key:literal])?: $t:ty),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq)]
        pub(crate) struct $name<$a> {
            $(pub(crate) $field: Option<$t>,)*
            _borrow: PhantomData<&$a ()>,
        }

        impl<'de> FromMap<'de> for $name<'de> {
            fn field<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<(), A::Error> {
                match key {
                    $(key_of!($field $(, $key)?) => self.$field = Some(map.next_value()?),)*
                    _ => {
                        map.next_value::<Skip>()?;
                    }
                }
                Ok(())
            }
        }

        impl<$a> Overlay for $name<$a> {
            fn overlay(&mut self, previous: Self) {
                $(
                    if let Some(p) = previous.$field {
                        match &mut self.$field {
                            Some(current) => current.overlay(p),
                            None => self.$field = Some(p),
                        }
                    }
                )*
            }
        }
    };
}

object!(
    /// A webhook body or an entry of `/v1/events`.
    Event<'a> {
        id: Str<'a>,
        kind ["type"]: Str<'a>,
        created: Int,
        data: Obj<EventData<'a>>,
        request: IdOr<'a, Request<'a>>,
        api_version: Str<'a>,
        livemode: Bool,
    }
);

object!(
    /// `event.data`.
    EventData<'a> {
        object: Obj<Object<'a>>,
        previous_attributes: Obj<Object<'a>>,
    }
);

object!(
    /// `event.request` (very old API versions send the bare id instead).
    Request<'a> {
        id: Str<'a>,
        idempotency_key: Str<'a>,
    }
);

object!(
    /// A subscription, customer or invoice: every field the mapping of any of them reads.
    Object<'a> {
        id: Str<'a>,
        // subscription
        items: Obj<Items<'a>>,
        status: Str<'a>,
        current_period_start: Int,
        current_period_end: Int,
        cancel_at_period_end: Bool,
        cancel_at: Int,
        canceled_at: Int,
        ended_at: Int,
        start_date: Int,
        customer: IdOr<'a, Ref<'a>>,
        currency: Str<'a>,
        metadata: Metadata<'a>,
        // customer
        address: Obj<Address<'a>>,
        email: Str<'a>,
        name: Str<'a>,
        phone: Str<'a>,
        created: Int,
        deleted: Bool,
        // invoice
        customer_email: Str<'a>,
        subscription: IdOr<'a, Ref<'a>>,
        parent: Obj<Parent<'a>>,
        total: Int,
        amount_due: Int,
        amount_paid: Int,
        period_start: Int,
        period_end: Int,
        due_date: Int,
    }
);

object!(
    /// An object referred to by id (`customer`, `subscription`, `product`).
    Ref<'a> {
        id: Str<'a>,
    }
);

object!(
    /// `subscription.items`.
    Items<'a> {
        data: List<Item<'a>>,
    }
);

object!(
    /// One subscription item.
    Item<'a> {
        id: Str<'a>,
        price: IdOr<'a, Price<'a>>,
        plan: Obj<Price<'a>>,
        quantity: UInt,
        current_period_start: Int,
        current_period_end: Int,
    }
);

object!(
    /// A price, or the legacy plan (which has `amount`, `interval` and `interval_count` on
    /// itself instead of `unit_amount` and `recurring`).
    Price<'a> {
        id: Str<'a>,
        unit_amount: UInt,
        amount: UInt,
        unit_amount_decimal: Str<'a>,
        recurring: Obj<Recurring<'a>>,
        interval: Str<'a>,
        interval_count: Count,
        currency: Str<'a>,
        product: IdOr<'a, Ref<'a>>,
    }
);

object!(
    /// `price.recurring`.
    Recurring<'a> {
        interval: Str<'a>,
        interval_count: Count,
    }
);

object!(
    /// `customer.address`.
    Address<'a> {
        line1: Str<'a>,
        line2: Str<'a>,
        city: Str<'a>,
        postal_code: Str<'a>,
        state: Str<'a>,
        country: Str<'a>,
    }
);

object!(
    /// `invoice.parent` (basil and later).
    Parent<'a> {
        subscription_details: Obj<SubscriptionDetails<'a>>,
    }
);

object!(
    /// `invoice.parent.subscription_details`.
    SubscriptionDetails<'a> {
        subscription: IdOr<'a, Ref<'a>>,
    }
);

impl HasId for Ref<'_> {
    fn id(&self) -> Option<&str> {
        str_of(&self.id)
    }
}

impl HasId for Price<'_> {
    fn id(&self) -> Option<&str> {
        str_of(&self.id)
    }
}

impl HasId for Request<'_> {
    fn id(&self) -> Option<&str> {
        str_of(&self.id)
    }
}

/// A string field's value: `None` when absent or not a string.
pub(crate) fn str_of<'s>(field: &'s Option<Str<'_>>) -> Option<&'s str> {
    field.as_ref().and_then(|s| s.0.as_deref())
}

/// An integer field's value (`Value::as_i64`).
pub(crate) fn int_of(field: &Option<Int>) -> Option<i64> {
    field.as_ref().and_then(|n| n.0)
}

/// A non-negative integer field's value (`Value::as_u64`).
pub(crate) fn uint_of(field: &Option<UInt>) -> Option<u64> {
    field.as_ref().and_then(|n| n.0)
}

/// A boolean field's value (`Value::as_bool`).
pub(crate) fn bool_of(field: &Option<Bool>) -> Option<bool> {
    field.as_ref().and_then(|b| b.0)
}

/// An object field's value, if it is an object.
pub(crate) fn obj_of<T>(field: &Option<Obj<T>>) -> Option<&T> {
    field.as_ref().and_then(|o| o.0.as_ref())
}

/// An id-or-object field's id.
pub(crate) fn id_of<'s, T: HasId>(field: &'s Option<IdOr<'_, T>>) -> Option<&'s str> {
    field.as_ref().and_then(IdOr::id)
}

impl<'a> Event<'a> {
    /// A webhook body; `Ok(None)` when it is JSON but not an object.
    pub(crate) fn parse(body: &'a [u8]) -> Result<Option<Self>, serde_json::Error> {
        serde_json::from_slice::<Obj<Event<'a>>>(body).map(|o| o.0)
    }

    /// An event the API returned inside a list.
    pub(crate) fn of_value(value: &'a serde_json::Value) -> Self {
        Obj::<Event<'a>>::deserialize(value)
            .ok()
            .and_then(|o| o.0)
            .unwrap_or_default()
    }

    /// `data.object`, if it is an object.
    pub(crate) fn object(&self) -> Option<&Object<'a>> {
        obj_of(&self.data).and_then(|d| obj_of(&d.object))
    }

    /// `data.previous_attributes`, if it is an object.
    pub(crate) fn previous(&self) -> Option<&Object<'a>> {
        obj_of(&self.data).and_then(|d| obj_of(&d.previous_attributes))
    }
}

impl<'a> Object<'a> {
    /// An object the API returned (`None` when the value is not an object).
    pub(crate) fn of_value(value: &'a serde_json::Value) -> Option<Self> {
        Obj::<Object<'a>>::deserialize(value).ok().and_then(|o| o.0)
    }
}
