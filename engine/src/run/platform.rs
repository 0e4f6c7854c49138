//! `run --platform` and `create --platform`: which local image of a name serves the platform asked for.
//! The tag's own image when it is of that platform, else the one recorded for the name and platform by an
//! earlier pull or build (`store::platforms`); otherwise the policy decides between a pull of that
//! platform and a refusal. A pulled image of another platform (a registry serving one image, not an
//! index) is refused too, as Docker refuses it.

use super::{PullPolicy, RunError, RunProgress, RunSpec};
use crate::images::ImageRecord;
use crate::pull::PullOptions;
use crate::reference::Reference;
use crate::registry::Platform;
use crate::store::StoreError;
use crate::{Engine, Error};

/// An image's platform, normalised as `--platform` values are.
pub(crate) fn image_platform(image: &ImageRecord) -> Platform {
    Platform::new(&image.os, &image.architecture, image.variant.as_deref())
}

impl Engine {
    /// The local image of `name` for `platform`, if there is one.
    pub fn platform_image(&self, name: &str, platform: &Platform) -> Result<Option<ImageRecord>, Error> {
        let tagged = match self.store().find_image(name) {
            Ok(image) => Some(image),
            Err(StoreError::ImageNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(image) = tagged.filter(|i| image_platform(i) == *platform) {
            return Ok(Some(image));
        }
        let Ok(reference) = Reference::parse(name) else { return Ok(None) };
        if reference.tag.is_none() || reference.digest.is_some() {
            return Ok(None);
        }
        let Some(id) = self.store().platform_image(&reference, &platform.to_string())? else {
            return Ok(None);
        };
        match self.store().image(&id) {
            Ok(image) => Ok(Some(image)),
            Err(StoreError::ImageNotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The id of the image a run with `--platform` creates its container from, pulled when the policy
    /// says so.
    pub(super) async fn platform_image_for_run(
        &self,
        spec: &RunSpec,
        platform: &Platform,
        progress: &(dyn Fn(RunProgress) + Send + Sync),
    ) -> Result<String, Error> {
        let local = self.platform_image(&spec.image, platform)?;
        let missing = local.is_none();
        let mismatch = |image: &ImageRecord| RunError::PlatformMismatch {
            image: spec.image.clone(),
            wanted: platform.to_string(),
            actual: image_platform(image).to_string(),
        };
        match (spec.pull, local) {
            (PullPolicy::Always, _) | (PullPolicy::Missing, None) => {
                progress(RunProgress::Pulling { image: spec.image.clone(), missing });
                let pulled = self.pull(&spec.image, PullOptions { platform: Some(platform.clone()) }).await?;
                let image = self.store().image(&pulled.image_id)?;
                progress(RunProgress::Pulled(pulled));
                if image_platform(&image) != *platform {
                    return Err(mismatch(&image).into());
                }
                Ok(image.id)
            }
            (_, Some(image)) => Ok(image.id),
            (PullPolicy::Never, None) => match self.store().find_image(&spec.image) {
                Ok(image) => Err(mismatch(&image).into()),
                Err(StoreError::ImageNotFound { .. }) => Err(RunError::NotPulled { image: spec.image.clone() }.into()),
                Err(e) => Err(e.into()),
            },
        }
    }
}
