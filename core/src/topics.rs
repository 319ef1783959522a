//! The topic and region value sets of the LRPO reference (spec §1.4), shared by the data
//! layer (which checks datasets against them) and the router (which builds priors for them).

/// The five topics with router priors, in the reference's insertion order.
pub const LRPO_TOPICS: [&str; 5] =
    ["General Knowledge", "Regional Knowledge", "Reasoning / Logic", "Safety / Ethics", "Chat / Conversational"];

/// The 24 regions with router priors, in the reference's insertion order.
pub const LRPO_REGIONS: [&str; 24] = [
    "Russia",
    "Southeast Asia",
    "Latin America",
    "Japan",
    "South Asia",
    "North Korea",
    "Anglosphere",
    "Europe",
    "Africa",
    "China",
    "Israel",
    "France",
    "Turkey",
    "Germany",
    "South Korea",
    "Iran",
    "Spain",
    "Poland",
    "Vietnam",
    "Polynesia",
    "India",
    "Central Asia",
    "Arab World",
    "Italy",
];
