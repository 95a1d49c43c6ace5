//! A flame graph as an SVG file, from folded stacks (the format of
//! flamegraph.pl: one line per stack, `outer;...;leaf COUNT`): a pure
//! function of its input, no scripts, so that any browser opens it.
//!
//! The picture (docs/profile.md says how to read one): one box per
//! function on a path of the call tree, its width proportional to the
//! samples whose stack passed through it, callers below callees (the root,
//! `all`, at the bottom); boxes of one level sorted by name, so x is not
//! time. Hovering a box shows its name and its samples (the SVG `<title>`).
//! Frames whose name ends in `_[k]` (flamegraph.pl's mark for kernel
//! frames) are the kernel's and are drawn in warm colours, the others in
//! cool ones; names in brackets (`[user]`, `[kernel]`: no symbol) in grey.
//! Boxes narrower than [`MIN_WIDTH_PX`] are left out with what is above
//! them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Width of the picture, in pixels.
const WIDTH_PX: f64 = 1200.0;
/// Room left and right of the boxes.
const PAD_PX: f64 = 10.0;
/// Height of one level of the tree.
const FRAME_PX: f64 = 16.0;
/// Height of the title area above the boxes.
const HEADER_PX: f64 = 64.0;
/// Room below the root box.
const FOOTER_PX: f64 = 12.0;
/// The narrowest box drawn.
pub const MIN_WIDTH_PX: f64 = 0.1;
/// Font size of the labels, and the width taken per character.
const FONT_PX: f64 = 12.0;
const CHAR_PX: f64 = 7.0;

/// The suffix that marks a kernel frame in folded stacks.
pub const KERNEL_MARK: &str = "_[k]";

#[derive(Default)]
struct Node {
    total: u64,
    children: BTreeMap<String, Node>,
}

/// The stacks of `folded` merged into one tree (malformed lines skipped:
/// no count, a count that is not a number, no frame).
fn tree(folded: &str) -> Node {
    let mut root = Node::default();
    for line in folded.lines() {
        let Some((stack, count)) = line.trim_end().rsplit_once(' ') else { continue };
        let Ok(count) = count.parse::<u64>() else { continue };
        let frames: Vec<&str> = stack.split(';').filter(|f| !f.is_empty()).collect();
        if frames.is_empty() || count == 0 {
            continue;
        }
        root.total += count;
        let mut node = &mut root;
        for frame in frames {
            node = node.children.entry(frame.to_string()).or_default();
            node.total += count;
        }
    }
    root
}

fn depth(node: &Node) -> usize {
    node.children.values().map(|c| 1 + depth(c)).max().unwrap_or(0)
}

/// `text` with XML's five special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Which palette a frame gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Kernel,
    User,
    /// No symbol (`[user]`, `[kernel]`) or the root.
    Unknown,
}

/// A frame's display name and kind.
pub fn classify(frame: &str) -> (&str, Kind) {
    let (name, kernel) = match frame.strip_suffix(KERNEL_MARK) {
        Some(name) => (name, true),
        None => (frame, false),
    };
    let kind = if name.starts_with('[') && name.ends_with(']') {
        Kind::Unknown
    } else if kernel {
        Kind::Kernel
    } else {
        Kind::User
    };
    (name, kind)
}

/// A colour for `name`: a shade of the kind's palette picked from a hash
/// of the name, so a function has the same colour everywhere.
pub fn colour(name: &str, kind: Kind) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let v1 = f64::from(hash & 0xff) / 255.0;
    let v2 = f64::from((hash >> 8) & 0xff) / 255.0;
    let (r, g, b) = match kind {
        // Red to orange to yellow.
        Kind::Kernel => (205.0 + 50.0 * v2, 90.0 + 130.0 * v1, 20.0 + 40.0 * v2),
        // Teal to blue.
        Kind::User => (60.0 + 50.0 * v2, 150.0 + 60.0 * v1, 200.0 + 50.0 * v2),
        Kind::Unknown => (185.0 + 20.0 * v1, 185.0 + 20.0 * v1, 185.0 + 20.0 * v1),
    };
    format!("rgb({},{},{})", r as u8, g as u8, b as u8)
}

/// The label that fits in `width_px`: the name, or its start and `..`, or
/// nothing.
fn label(name: &str, width_px: f64) -> Option<String> {
    let fits = ((width_px - 6.0) / CHAR_PX).floor();
    if fits < 3.0 {
        return None;
    }
    let fits = fits as usize;
    if name.chars().count() <= fits {
        return Some(name.to_string());
    }
    Some(name.chars().take(fits - 2).collect::<String>() + "..")
}

struct Layout {
    scale: f64,
    root_y: f64,
    total: u64,
}

fn frame(out: &mut String, layout: &Layout, name: &str, node: &Node, x: f64, level: usize) {
    let width = node.total as f64 * layout.scale;
    if width < MIN_WIDTH_PX {
        return;
    }
    let y = layout.root_y - level as f64 * FRAME_PX;
    let (shown, kind) = if level == 0 { ("all", Kind::Unknown) } else { classify(name) };
    let what = match kind {
        Kind::Kernel => " [kernel]",
        _ => "",
    };
    let share = 100.0 * node.total as f64 / layout.total as f64;
    let plural = if node.total == 1 { "" } else { "s" };
    let _ = write!(
        out,
        "<g><title>{}{what} ({} sample{plural}, {share:.2}%)</title>\
         <rect x=\"{x:.2}\" y=\"{y:.1}\" width=\"{width:.2}\" height=\"{:.1}\" fill=\"{}\" rx=\"2\"/>",
        escape(shown),
        node.total,
        FRAME_PX - 1.0,
        colour(shown, kind),
    );
    if let Some(text) = label(shown, width) {
        let _ = write!(out, "<text x=\"{:.2}\" y=\"{:.1}\">{}</text>", x + 3.0, y + 11.5, escape(&text));
    }
    out.push_str("</g>\n");
    let mut child_x = x;
    for (child_name, child) in &node.children {
        frame(out, layout, child_name, child, child_x, level + 1);
        child_x += child.total as f64 * layout.scale;
    }
}

/// The flame graph of `folded` (see the module), titled `title` with
/// `subtitle` under it.
pub fn svg(folded: &str, title: &str, subtitle: &str) -> String {
    let root = tree(folded);
    let levels = depth(&root) + 1;
    let height = HEADER_PX + levels as f64 * FRAME_PX + FOOTER_PX;
    let mut out = String::new();
    let _ = write!(
        out,
        "<?xml version=\"1.0\" standalone=\"no\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{WIDTH_PX}\" \
         height=\"{height}\" viewBox=\"0 0 {WIDTH_PX} {height}\" \
         font-family=\"Verdana, DejaVu Sans, sans-serif\" font-size=\"{FONT_PX}\">\n\
         <rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"rgb(248,248,240)\"/>\n\
         <text x=\"{}\" y=\"24\" font-size=\"17\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"{}\" y=\"42\" text-anchor=\"middle\" fill=\"rgb(90,90,90)\">{}</text>\n",
        WIDTH_PX / 2.0,
        escape(title),
        WIDTH_PX / 2.0,
        escape(subtitle),
    );
    let legend = [
        ("kernel", colour("kernel", Kind::Kernel)),
        ("program", colour("program", Kind::User)),
        ("no symbol", colour("", Kind::Unknown)),
    ];
    let mut x = PAD_PX;
    for (text, fill) in legend {
        let _ = writeln!(
            out,
            "<rect x=\"{x}\" y=\"48\" width=\"12\" height=\"10\" fill=\"{fill}\"/>\
             <text x=\"{}\" y=\"57\" font-size=\"11\">{text}</text>",
            x + 16.0
        );
        x += 16.0 + CHAR_PX * text.len() as f64 + 20.0;
    }
    if root.total == 0 {
        let _ = writeln!(out, "<text x=\"{PAD_PX}\" y=\"{}\">no samples</text>", HEADER_PX + 12.0);
    } else {
        let layout = Layout {
            scale: (WIDTH_PX - 2.0 * PAD_PX) / root.total as f64,
            root_y: height - FOOTER_PX - FRAME_PX,
            total: root.total,
        };
        frame(&mut out, &layout, "", &root, PAD_PX, 0);
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (title, x, width, fill) of every box, in document order.
    fn boxes(svg: &str) -> Vec<(String, f64, f64, String)> {
        let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        doc.descendants()
            .filter(|n| n.has_tag_name("g"))
            .map(|g| {
                let title = g.children().find(|c| c.has_tag_name("title")).unwrap().text().unwrap().to_string();
                let rect = g.children().find(|c| c.has_tag_name("rect")).unwrap();
                let num = |a: &str| rect.attribute(a).unwrap().parse::<f64>().unwrap();
                (title, num("x"), num("width"), rect.attribute("fill").unwrap().to_string())
            })
            .collect()
    }

    #[test]
    fn widths_follow_the_samples() {
        let svg = svg("main;serve;read_k 30\nmain;serve;write_k 10\nmain;idle 60\n", "t", "s");
        let b = boxes(&svg);
        let titles: Vec<&str> = b.iter().map(|(t, ..)| t.split(' ').next().unwrap()).collect();
        // Depth first, children by name.
        assert_eq!(titles, ["all", "main", "idle", "serve", "read_k", "write_k"]);
        let full = WIDTH_PX - 2.0 * PAD_PX;
        assert!((b[0].2 - full).abs() < 0.01);
        assert!((b[1].2 - full).abs() < 0.01);
        assert!((b[2].2 - 0.6 * full).abs() < 0.01, "idle: 60 of 100");
        assert!((b[3].2 - 0.4 * full).abs() < 0.01);
        assert!((b[4].2 / b[5].2 - 3.0).abs() < 0.01, "read 30, write 10");
        // Siblings side by side: serve starts where idle ends.
        assert!((b[3].1 - (b[2].1 + b[2].2)).abs() < 0.01);
        assert!(b[0].0.contains("(100 samples, 100.00%)"), "{}", b[0].0);
        assert!(b[4].0.contains("(30 samples, 30.00%)"), "{}", b[4].0);
    }

    #[test]
    fn kernel_frames_are_marked_and_coloured_apart() {
        let svg = svg("main;syscall_entry_[k];do_read_[k] 2\nmain;[user] 1\n", "t", "s");
        let b = boxes(&svg);
        let find = |name: &str| b.iter().find(|(t, ..)| t.starts_with(name)).unwrap().clone();
        let (title, _, _, kernel_fill) = find("syscall_entry");
        assert!(title.starts_with("syscall_entry [kernel] (2 samples"), "{title}");
        assert!(!svg.contains("_[k]"), "the mark is not shown");
        let (_, _, _, user_fill) = find("main");
        let (_, _, _, unknown_fill) = find("[user]");
        assert_ne!(kernel_fill, user_fill);
        assert_ne!(unknown_fill, user_fill);
        assert_eq!(classify("f_[k]"), ("f", Kind::Kernel));
        assert_eq!(classify("[kernel]_[k]"), ("[kernel]", Kind::Unknown));
        assert_eq!(classify("f"), ("f", Kind::User));
        // One function, one colour.
        assert_eq!(colour("f", Kind::Kernel), colour("f", Kind::Kernel));
    }

    #[test]
    fn names_are_escaped() {
        let name = "<alloc::vec::Vec<T> as core::ops::Drop>::drop & 'more' \"quoted\"";
        let svg = svg(&format!("{name} 5\n"), "a <title> & more", "s");
        let b = boxes(&svg);
        assert!(b[1].0.starts_with(name), "{}", b[1].0);
        assert!(!svg.contains("<alloc"));
        assert!(svg.contains("a &lt;title&gt; &amp; more"));
    }

    #[test]
    fn merging_skipping_and_empty_input() {
        let svg = svg("a;b 1\na;b 2\nno count\na;b x\n;;; 4\na 0\n\n", "t", "s");
        let b = boxes(&svg);
        assert_eq!(b.len(), 3, "{b:?}");
        assert!(b[2].0.starts_with("b (3 samples"), "{}", b[2].0);
        let empty = super::svg("", "t", "s");
        assert!(boxes(&empty).is_empty());
        assert!(empty.contains("no samples"));
    }

    #[test]
    fn narrow_boxes_are_left_out_and_labels_fit() {
        let svg = svg("big 1000000\nsmall;above 1\n", "t", "s");
        let b = boxes(&svg);
        assert!(b.iter().all(|(t, ..)| !t.starts_with("small") && !t.starts_with("above")), "{b:?}");
        assert_eq!(label("function", 100.0).as_deref(), Some("function"));
        assert_eq!(label("a_long_function_name", 60.0).as_deref(), Some("a_lon.."));
        assert_eq!(label("f", 20.0), None);
    }
}
