//! A minimal PDF for each bill, written by hand so that its bytes depend only
//! on the bill.
//!
//! The document follows PDF 1.4: one A4 page that shows a few lines of text
//! in the standard Helvetica font with WinAnsiEncoding, so it needs no
//! embedded font. It has no creation date or document id, which would make
//! the bytes differ between runs.

use crate::bills::{Bill, format_amount_fr, format_date_fr};
use crate::html::VENDOR_NAME;

/// Writes the PDF of `bill`.
pub(crate) fn bill_pdf(bill: &Bill) -> Vec<u8> {
    let lines = [
        (18, VENDOR_NAME.to_owned()),
        (14, format!("Invoice {}", bill.id)),
        (12, format!("Date: {}", format_date_fr(&bill.date))),
        (12, bill.label.clone()),
        (12, format!("Amount: {}", format_amount_fr(bill.amount))),
    ];
    let content = page_content(&lines);

    let objects: [Vec<u8>; 5] = [
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] \
          /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
            .to_vec(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica \
          /Encoding /WinAnsiEncoding >>"
            .to_vec(),
        stream_object(&content),
    ];
    write_document(&objects)
}

/// Builds the content stream that draws `lines`, each a font size and a
/// text, from the top left of the page downwards.
fn page_content(lines: &[(u32, String)]) -> Vec<u8> {
    let mut content = b"BT\n72 770 Td\n".to_vec();
    for (index, (font_size, text)) in lines.iter().enumerate() {
        if index > 0 {
            // Moves to the next line, 1.6 times the font size lower.
            let leading = font_size * 8 / 5;
            content.extend_from_slice(format!("0 -{leading} Td\n").as_bytes());
        }
        content.extend_from_slice(format!("/F1 {font_size} Tf\n(").as_bytes());
        content.extend_from_slice(&encode_text(text));
        content.extend_from_slice(b") Tj\n");
    }
    content.extend_from_slice(b"ET\n");
    content
}

fn stream_object(content: &[u8]) -> Vec<u8> {
    let mut object = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
    object.extend_from_slice(content);
    object.extend_from_slice(b"endstream");
    object
}

/// Lays out the objects, numbered from 1, with the cross-reference table and
/// trailer that point at them.
fn write_document(objects: &[Vec<u8>]) -> Vec<u8> {
    // A comment of bytes above 127 right after the header marks the file as
    // binary for tools that guess the type from the first bytes.
    let mut document = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();

    let mut offsets = Vec::with_capacity(objects.len());
    for (index, object) in objects.iter().enumerate() {
        offsets.push(document.len());
        document.extend_from_slice(format!("{} 0 obj\n", index + 1).as_bytes());
        document.extend_from_slice(object);
        document.extend_from_slice(b"\nendobj\n");
    }

    // Each cross-reference entry is exactly 20 bytes, end of line included.
    let xref_offset = document.len();
    let object_count = objects.len() + 1;
    document.extend_from_slice(format!("xref\n0 {object_count}\n").as_bytes());
    document.extend_from_slice(b"0000000000 65535 f \n");
    for offset in offsets {
        document.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    document.extend_from_slice(
        format!(
            "trailer\n<< /Size {object_count} /Root 1 0 R >>\nstartxref\n{xref_offset}\n%%EOF\n"
        )
        .as_bytes(),
    );
    document
}

/// Encodes text as the inside of a PDF literal string in WinAnsiEncoding.
/// Characters that encoding lacks become `?`.
fn encode_text(text: &str) -> Vec<u8> {
    let mut encoded = Vec::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '\\' | '(' | ')' => {
                encoded.push(b'\\');
                encoded.push(character as u8);
            }
            ' '..='~' => encoded.push(character as u8),
            other => match win_ansi_byte(other) {
                Some(byte) => encoded.extend_from_slice(format!("\\{byte:03o}").as_bytes()),
                None => encoded.push(b'?'),
            },
        }
    }
    encoded
}

/// Returns the WinAnsiEncoding code of a non-ASCII character, for Latin-1
/// letters and the few punctuation marks the bills use.
fn win_ansi_byte(character: char) -> Option<u8> {
    match character {
        '€' => Some(0x80),
        '‘' => Some(0x91),
        '’' => Some(0x92),
        '“' => Some(0x93),
        '”' => Some(0x94),
        '–' => Some(0x96),
        '—' => Some(0x97),
        '\u{A0}'..='\u{FF}' => Some(character as u32 as u8),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bills::generate_bills;

    fn sample_pdf() -> Vec<u8> {
        bill_pdf(&generate_bills(2)[1])
    }

    fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
        haystack
            .windows(needle.len())
            .position(|window| window == needle)
    }

    #[test]
    fn pdf_header_and_trailer() {
        let pdf = sample_pdf();
        assert!(pdf.starts_with(b"%PDF-1.4\n"));
        assert!(pdf.ends_with(b"%%EOF\n"));
    }

    #[test]
    fn pdf_deterministic() {
        assert_eq!(sample_pdf(), sample_pdf());
    }

    #[test]
    fn pdf_xref_offsets_point_at_objects() {
        let pdf = sample_pdf();
        let startxref = find(&pdf, b"startxref\n").expect("startxref present") + 10;
        let xref_offset: usize = String::from_utf8_lossy(&pdf[startxref..])
            .lines()
            .next()
            .and_then(|line| line.parse().ok())
            .expect("startxref offset is a number");
        assert!(pdf[xref_offset..].starts_with(b"xref\n0 6\n"));

        let entries = &pdf[xref_offset + 9..];
        for number in 1..=5 {
            let entry = &entries[number * 20..number * 20 + 20];
            let offset: usize = String::from_utf8_lossy(&entry[..10])
                .parse()
                .expect("offset is a number");
            let expected = format!("{number} 0 obj\n");
            assert!(
                pdf[offset..].starts_with(expected.as_bytes()),
                "object {number} not at offset {offset}"
            );
        }
    }

    #[test]
    fn pdf_stream_length_matches() {
        let pdf = sample_pdf();
        let start = find(&pdf, b"stream\n").expect("stream present") + 7;
        let end = find(&pdf, b"endstream").expect("endstream present");
        let length = format!("<< /Length {} >>", end - start);
        assert!(find(&pdf, length.as_bytes()).is_some(), "missing {length}");
    }

    #[test]
    fn pdf_contains_bill_text() {
        let pdf = sample_pdf();
        assert!(find(&pdf, b"(Invoice F202511-0001) Tj").is_some());
        assert!(find(&pdf, b"(Amount: 39,09 \\200) Tj").is_some());
        assert!(find(&pdf, b"(Internet & TV box \\226 November 2025) Tj").is_some());
    }

    #[test]
    fn text_encoding_escapes() {
        assert_eq!(encode_text("a(b)\\"), b"a\\(b\\)\\\\");
        assert_eq!(encode_text("é€ж"), b"\\351\\200?");
    }
}
