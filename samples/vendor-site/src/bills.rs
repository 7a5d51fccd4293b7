//! The site's bills, generated from the bill count alone so that every start
//! with the same configuration lists the same bills.

use serde::Serialize;

/// One bill of the vendor site.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bill {
    /// The bill number, such as `F202512-0012`. It is URL-safe.
    pub id: String,
    /// The issue date, `YYYY-MM-DD`.
    pub date: String,
    /// The amount in euros, with two decimals.
    pub amount: f64,
    /// A human-readable description. It contains `&` and non-ASCII
    /// characters, so konnectors must decode HTML entities and UTF-8.
    pub label: String,
    /// The path of the bill's PDF on the site, `/bills/ID.pdf`.
    pub pdf_path: String,
}

/// The month of the newest bill, counted as `year * 12 + (month - 1)`:
/// December 2025.
const NEWEST_MONTH_INDEX: usize = 2025 * 12 + 11;

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Generates `count` bills, newest first, one per month going back from
/// December 2025, each dated the 5th.
///
/// `count` must be at most [`crate::MAX_BILL_COUNT`] so that years stay
/// positive four-digit numbers.
pub(crate) fn generate_bills(count: usize) -> Vec<Bill> {
    (0..count)
        .map(|index| generate_bill(index, count))
        .collect()
}

fn generate_bill(index: usize, count: usize) -> Bill {
    let month_index = NEWEST_MONTH_INDEX - index;
    let year = month_index / 12;
    let month = month_index % 12 + 1;
    let month_name = MONTH_NAMES[month_index % 12];

    // The oldest bill has sequence number 1, like an invoice counter.
    let id = format!("F{year}{month:02}-{:04}", count - index);

    // Amounts vary between 19.90 and 79.89 euros. They are built from whole
    // cents so that each one is the f64 nearest to a two-decimal number.
    let cents = 1_990 + (index * 7_919) % 6_000;
    let amount = cents as f64 / 100.0;

    let product = match index % 3 {
        0 => "Mobile plan 50 GB",
        1 => "Internet & TV box",
        _ => "Phone insurance",
    };
    let label = format!("{product} – {month_name} {year}");

    Bill {
        pdf_path: format!("/bills/{id}.pdf"),
        date: format!("{year:04}-{month:02}-05"),
        id,
        amount,
        label,
    }
}

/// Formats an amount the French way, as vendor sites in euros show it:
/// `1234.5` becomes `1 234,50 €`, with ordinary spaces.
pub(crate) fn format_amount_fr(amount: f64) -> String {
    let cents = (amount * 100.0).round() as i64;
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let euros = group_thousands(cents / 100);
    format!("{sign}{euros},{:02} €", cents % 100)
}

/// Formats an amount for machines, with a dot and two decimals: `12.30`.
pub(crate) fn format_amount_machine(amount: f64) -> String {
    format!("{amount:.2}")
}

/// Converts a `YYYY-MM-DD` date into the French display form `DD/MM/YYYY`.
pub(crate) fn format_date_fr(date: &str) -> String {
    let mut parts = date.split('-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(year), Some(month), Some(day)) => format!("{day}/{month}/{year}"),
        _ => date.to_owned(),
    }
}

fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (position, digit) in digits.chars().enumerate() {
        if position > 0 && (digits.len() - position).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bills_are_newest_first_and_monthly() {
        let bills = generate_bills(14);
        assert_eq!(bills[0].date, "2025-12-05");
        assert_eq!(bills[0].id, "F202512-0014");
        assert_eq!(bills[11].date, "2025-01-05");
        assert_eq!(bills[12].date, "2024-12-05");
        assert_eq!(bills[13].id, "F202411-0001");
        assert_eq!(bills[1].pdf_path, "/bills/F202511-0013.pdf");
    }

    #[test]
    fn bills_are_deterministic() {
        assert_eq!(generate_bills(30), generate_bills(30));
    }

    #[test]
    fn bill_ids_are_unique() {
        let bills = generate_bills(crate::MAX_BILL_COUNT);
        let mut ids: Vec<&str> = bills.iter().map(|bill| bill.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), crate::MAX_BILL_COUNT);
    }

    #[test]
    fn oldest_allowed_bill_has_four_digit_year() {
        let bills = generate_bills(crate::MAX_BILL_COUNT);
        let oldest = bills.last().map(|bill| bill.date.as_str());
        assert_eq!(oldest, Some("1192-09-05"));
    }

    #[test]
    fn amounts_have_two_decimals() {
        for bill in generate_bills(100) {
            let rounded = (bill.amount * 100.0).round() / 100.0;
            assert_eq!(bill.amount, rounded, "amount of {}", bill.id);
            assert!(
                (19.90..=79.89).contains(&bill.amount),
                "amount {}",
                bill.amount
            );
        }
    }

    #[test]
    fn amount_french_format() {
        assert_eq!(format_amount_fr(12.34), "12,34 €");
        assert_eq!(format_amount_fr(0.5), "0,50 €");
        assert_eq!(format_amount_fr(1234.5), "1 234,50 €");
        assert_eq!(format_amount_fr(1_234_567.0), "1 234 567,00 €");
        assert_eq!(format_amount_fr(-3.1), "-3,10 €");
    }

    #[test]
    fn amount_machine_format() {
        assert_eq!(format_amount_machine(12.3), "12.30");
        assert_eq!(format_amount_machine(19.9), "19.90");
    }

    #[test]
    fn date_french_format() {
        assert_eq!(format_date_fr("2025-12-05"), "05/12/2025");
    }
}
