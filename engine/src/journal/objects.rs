//! Events of images, networks and volumes with the attributes Docker's daemon gives them.

use super::{Event, EventType};
use crate::images::ImageRecord;
use crate::network::NetworkRecord;

/// An image event: `id` is the image's id (a pull's is the reference pulled), `name` the reference it
/// concerns; the image's labels join when the image is known.
pub(crate) fn image_event(action: &str, id: &str, name: &str, image: Option<&ImageRecord>) -> Event {
    let labels = image.and_then(|i| i.config.config().as_ref().and_then(|c| c.labels().clone())).unwrap_or_default();
    Event::new(EventType::Image, action, id).attr("name", name).labels(&labels)
}

/// A network event: its name and driver (`type`), as moby sends them (no labels).
pub(crate) fn network_event(action: &str, network: &NetworkRecord) -> Event {
    Event::new(EventType::Network, action, network.id.clone())
        .attr("name", network.name.clone())
        .attr("type", network.driver.clone())
}

/// Docker's `prune` event of a kind of object, with the bytes it gave back when known.
pub(crate) fn prune_event(kind: EventType, reclaimed: Option<u64>) -> Event {
    let event = Event::new(kind, "prune", "");
    match reclaimed {
        Some(bytes) => event.attr("reclaimed", bytes.to_string()),
        None => event,
    }
}

/// A volume event: the volume's name is its id; berth's only driver is `local`.
pub(crate) fn volume_event(action: &str, name: &str) -> Event {
    Event::new(EventType::Volume, action, name).attr("driver", "local")
}
