//! Discord's message limits: the margins the layout aims at, the hard
//! limits, and the last guard that clamps a view to them.

use super::text::{chars, truncate_head};
use super::{EmbedView, ProgressView};

// Discord's limits, with margin.
pub(super) const CONTENT_MAX: usize = 1900;
pub(super) const TITLE_MAX: usize = 250;
pub(super) const DESCRIPTION_MAX: usize = 4000;
pub(super) const FIELD_NAME_MAX: usize = 200;
pub(super) const FIELD_VALUE_MAX: usize = 1000;
pub(super) const FOOTER_MAX: usize = 300;
pub(super) const TOTAL_MAX: usize = 5600;
// Discord's hard limits, enforced by the final guard.
pub(super) const HARD_TITLE: usize = 256;
pub(super) const HARD_DESCRIPTION: usize = 4096;
pub(super) const HARD_FIELDS: usize = 25;
pub(super) const HARD_FIELD_NAME: usize = 256;
pub(super) const HARD_FIELD_VALUE: usize = 1024;
pub(super) const HARD_FOOTER: usize = 2048;
pub(super) const HARD_TOTAL: usize = 6000;
pub(super) const HARD_EMBEDS: usize = 10;

pub(super) fn embed_chars(e: &EmbedView) -> usize {
    chars(&e.title)
        + chars(&e.description)
        + e.fields
            .iter()
            .map(|f| chars(&f.name) + chars(&f.value))
            .sum::<usize>()
        + e.footer.as_deref().map_or(0, chars)
}

/// Last line of defence: clamps anything the layout above let past
/// Discord's hard limits. Field values hold code blocks, so oversize fields
/// are dropped rather than cut.
pub(super) fn enforce_limits(view: &mut ProgressView) {
    view.content = truncate_head(&view.content, CONTENT_MAX);
    view.embeds.truncate(HARD_EMBEDS);
    for e in &mut view.embeds {
        e.title = truncate_head(&e.title, HARD_TITLE);
        e.description = truncate_head(&e.description, HARD_DESCRIPTION);
        e.footer = e.footer.as_deref().map(|f| truncate_head(f, HARD_FOOTER));
        e.fields.retain(|f| {
            chars(&f.value) <= HARD_FIELD_VALUE && !f.value.is_empty() && !f.name.is_empty()
        });
        e.fields.truncate(HARD_FIELDS);
        for f in &mut e.fields {
            f.name = truncate_head(&f.name, HARD_FIELD_NAME);
        }
    }
    loop {
        let total: usize = view.embeds.iter().map(embed_chars).sum();
        if total <= HARD_TOTAL {
            break;
        }
        let over = total - HARD_TOTAL;
        if let Some(e) = view.embeds.iter_mut().rev().find(|e| !e.fields.is_empty()) {
            e.fields.pop();
        } else if let Some(e) = view.embeds.iter_mut().max_by_key(|e| chars(&e.description)) {
            let keep = chars(&e.description).saturating_sub(over);
            if keep == 0 && e.description.is_empty() {
                break;
            }
            e.description = truncate_head(&e.description, keep);
        } else {
            break;
        }
    }
}
