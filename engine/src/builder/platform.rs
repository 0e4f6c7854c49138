//! Building for a platform (`build --platform`, `FROM --platform`): which platform each stage is for,
//! its base image of that platform, a scratch config naming it, BuildKit's spelling of platforms for the
//! automatic ARGs, and the check a foreign RUN step makes first: its binaries run only through QEMU user
//! emulation registered with binfmt_misc with the fix-binary flag, so without it the build stops naming
//! what is missing instead of failing with `exec format error`.

use serde_json::{Value, json};

use super::config;
use super::{BuilderError, State};
use crate::build::stages::PlannedStage;
use crate::registry::Platform;
use crate::{Engine, Error};

pub(super) fn host() -> Platform {
    Platform::host()
}

/// A platform as BuildKit prints it in `TARGETPLATFORM` and the like: arm64's default variant left out.
pub(super) fn buildkit_spelling(p: &Platform) -> String {
    match (&*p.architecture, p.variant.as_deref()) {
        ("arm64", Some("v8")) | (_, None) => format!("{}/{}", p.os, p.architecture),
        (_, Some(variant)) => format!("{}/{}/{variant}", p.os, p.architecture),
    }
}

/// The platform a stage is built for: its `FROM --platform`, else the build's; None is the host's
/// platform with nothing asked (the name's image as stored, as before platforms existed).
pub(super) fn of_stage(stage: &PlannedStage, build: Option<&Platform>) -> Result<Option<Platform>, Error> {
    match stage.platform.as_deref().filter(|p| !p.is_empty()) {
        Some(text) => Platform::parse(text).map(Some).map_err(|e| {
            BuilderError::Step { line: stage.from_line, instruction: "FROM".into(), message: e.to_string() }.into()
        }),
        None => Ok(build.cloned()),
    }
}

/// The state a `FROM scratch` stage starts from; its config names the stage's platform, and a foreign
/// platform has a key of its own so the host's cached steps are not taken for it.
pub(super) fn scratch_state(platform: Option<&Platform>) -> State {
    let mut config = config::scratch();
    let key = match platform.filter(|p| **p != host()) {
        Some(p) => {
            config["architecture"] = json!(p.architecture);
            config["os"] = json!(p.os);
            if let Some(variant) = p.variant.as_deref().filter(|v| !(p.architecture == "arm64" && *v == "v8")) {
                config["variant"] = json!(variant);
            }
            format!("scratch {p}")
        }
        None => "scratch".into(),
    };
    State { id: None, layers: Vec::new(), config, key }
}

/// A base pulled for `platform` must be of it: a registry serving one image rather than an index serves
/// whatever it has.
pub(super) fn check_pulled(engine: &Engine, name: &str, platform: &Platform, id: &str) -> Result<(), Error> {
    let image = engine.store().image(id)?;
    let actual = crate::run::image_platform(&image);
    if actual != *platform {
        return Err(BuilderError::Platform {
            image: name.to_string(),
            wanted: platform.to_string(),
            actual: actual.to_string(),
        }
        .into());
    }
    Ok(())
}

/// Before a RUN step of a foreign platform: QEMU must be registered for its binaries.
pub(super) fn check_emulation(config: &Value) -> Result<(), Error> {
    let arch = config["architecture"].as_str().unwrap_or_default();
    let variant = config["variant"].as_str();
    let platform = Platform::new(config["os"].as_str().unwrap_or("linux"), arch, variant);
    if arch.is_empty() || platform.architecture == host().architecture {
        return Ok(());
    }
    let Some(qemu) = crate::binfmt::qemu_name(&platform.architecture) else {
        return Err(BuilderError::NoEmulation {
            platform: platform.to_string(),
            missing: format!("berth knows no QEMU emulator for {}", platform.architecture),
        }
        .into());
    };
    match crate::binfmt::emulated(qemu) {
        Ok(true) => Ok(()),
        Ok(false) => Err(BuilderError::NoEmulation {
            platform: platform.to_string(),
            missing: format!(
                "no binfmt_misc handler runs {qemu} binaries through qemu-{qemu}-static with the fix-binary flag (F); \
                 install qemu-user-static, then run `berth system binfmt install`"
            ),
        }
        .into()),
        Err(e) => Err(BuilderError::NoEmulation {
            platform: platform.to_string(),
            missing: format!("{e}; then install qemu-user-static and run `berth system binfmt install`"),
        }
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_are_spelled_as_buildkit_spells_them() {
        let spell = |p: &str| buildkit_spelling(&Platform::parse(p).unwrap());
        assert_eq!(spell("linux/arm64"), "linux/arm64");
        assert_eq!(spell("linux/aarch64"), "linux/arm64");
        assert_eq!(spell("linux/arm/v7"), "linux/arm/v7");
        assert_eq!(spell("linux/amd64"), "linux/amd64");
    }

    #[test]
    fn scratch_for_a_foreign_platform_names_it_and_keys_apart() {
        let foreign = if host().architecture == "arm64" { "linux/amd64" } else { "linux/arm64" };
        let p = Platform::parse(foreign).unwrap();
        let state = scratch_state(Some(&p));
        assert_eq!(state.config["architecture"], p.architecture.as_str());
        assert!(state.config.get("variant").is_none(), "{}", state.config);
        assert_ne!(state.key, scratch_state(None).key);
        assert_eq!(scratch_state(Some(&host())).key, scratch_state(None).key);
    }
}
