//! Arrow column access that accepts every string and integer encoding a parquet writer may pick
//! (pyarrow writes `string` or `large_string`; an all-null column comes back as `null`).

use arrow::array::{Array, ArrayRef, AsArray, LargeStringArray, StringArray, StringViewArray};
use arrow::datatypes::{
    DataType, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};

/// A string column of any of Arrow's string encodings.
pub(crate) enum Text {
    Utf8(StringArray),
    Large(LargeStringArray),
    View(StringViewArray),
    /// A column whose every value is null (pyarrow infers type `null` for one).
    AllNull,
}

impl Text {
    pub(crate) fn new(array: &ArrayRef) -> Option<Text> {
        match array.data_type() {
            DataType::Utf8 => Some(Text::Utf8(array.as_string::<i32>().clone())),
            DataType::LargeUtf8 => Some(Text::Large(array.as_string::<i64>().clone())),
            DataType::Utf8View => Some(Text::View(array.as_string_view().clone())),
            DataType::Null => Some(Text::AllNull),
            _ => None,
        }
    }

    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        match self {
            Text::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Text::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Text::View(a) => a.is_valid(i).then(|| a.value(i)),
            Text::AllNull => None,
        }
    }
}

/// Whether `ty` is a string type; `allow_null` also admits the all-null type.
pub(crate) fn is_text(ty: &DataType, allow_null: bool) -> bool {
    matches!(ty, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) || (allow_null && *ty == DataType::Null)
}

pub(crate) fn is_integer(ty: &DataType) -> bool {
    ty.is_integer() || *ty == DataType::Null
}

/// The integer at row `i`, or `None` when null. Values beyond `i64` (u64 > 2^63) saturate.
pub(crate) fn integer_at(array: &ArrayRef, i: usize) -> Option<i64> {
    if array.is_null(i) || *array.data_type() == DataType::Null {
        return None;
    }
    Some(match array.data_type() {
        DataType::Int8 => array.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => array.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => array.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => array.as_primitive::<Int64Type>().value(i),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => i64::try_from(array.as_primitive::<UInt64Type>().value(i)).unwrap_or(i64::MAX),
        _ => return None,
    })
}
