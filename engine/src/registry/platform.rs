//! Platforms (`os/architecture[/variant]`) in the normalised form used to pick an image from an index.
//!
//! Registries and users spell the same platform several ways (`aarch64`, `arm64`, `arm64/v8`); comparing
//! normalised values makes all of them match, as containerd's platform matcher does.

use std::fmt;

use super::RegistryError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    /// Builds a platform and normalises its spelling.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.to_ascii_lowercase();
        let (architecture, variant) = normalise_arch(&architecture.to_ascii_lowercase(), variant);
        Platform { os, architecture, variant }
    }

    /// The platform this process runs on, in OCI's GOOS/GOARCH vocabulary.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "loongarch64" => "loong64",
            "mips64" if cfg!(target_endian = "little") => "mips64le",
            other => other,
        };
        Platform::new(std::env::consts::OS, arch, None)
    }

    /// Parses `os/arch` or `os/arch/variant`, as `--platform` takes it.
    pub fn parse(input: &str) -> Result<Self, RegistryError> {
        let bad = |reason: &str| RegistryError::BadPlatform { input: input.to_string(), reason: reason.to_string() };
        let parts: Vec<&str> = input.split('/').collect();
        if parts.iter().any(|p| p.trim().is_empty()) {
            return Err(bad("expected os/arch or os/arch/variant with no empty parts"));
        }
        match parts.as_slice() {
            [os, arch] => Ok(Platform::new(os.trim(), arch.trim(), None)),
            [os, arch, variant] => Ok(Platform::new(os.trim(), arch.trim(), Some(variant.trim()))),
            _ => Err(bad("expected os/arch or os/arch/variant")),
        }
    }

    /// Whether an index entry for `other` can serve a request for `self`.
    pub fn matches(&self, other: &Platform) -> bool {
        self == other
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// Maps architecture aliases to GOARCH names and fills in the default variant of each family:
/// arm64 means v8, 32-bit arm means v7, and amd64/v1 is plain amd64.
fn normalise_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let variant = variant.map(str::to_ascii_lowercase);
    match arch {
        "x86_64" | "x86-64" | "amd64" => {
            let variant = variant.filter(|v| v != "v1");
            ("amd64".into(), variant)
        }
        "i386" | "i686" | "386" => ("386".into(), None),
        "aarch64" | "arm64" => {
            let variant = match variant.as_deref() {
                None | Some("8") | Some("v8") => "v8".to_string(),
                Some(v) => v.to_string(),
            };
            ("arm64".into(), Some(variant))
        }
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => {
            let variant = match variant.as_deref() {
                None | Some("7") | Some("v7") => "v7".to_string(),
                Some("5") => "v5".to_string(),
                Some("6") => "v6".to_string(),
                Some(v) => v.to_string(),
            };
            ("arm".into(), Some(variant))
        }
        other => (other.to_string(), variant),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_default_variants_normalise() {
        assert_eq!(Platform::parse("linux/aarch64").unwrap(), Platform::parse("linux/arm64/v8").unwrap());
        assert_eq!(Platform::parse("linux/arm64").unwrap().to_string(), "linux/arm64/v8");
        assert_eq!(Platform::parse("linux/x86_64").unwrap().to_string(), "linux/amd64");
        assert_eq!(Platform::parse("linux/amd64/v1").unwrap().to_string(), "linux/amd64");
        assert_eq!(Platform::parse("linux/amd64/v3").unwrap().to_string(), "linux/amd64/v3");
        assert_eq!(Platform::parse("linux/arm").unwrap().to_string(), "linux/arm/v7");
        assert_eq!(Platform::parse("linux/armhf").unwrap().to_string(), "linux/arm/v7");
        assert_eq!(Platform::parse("Linux/ARM/6").unwrap().to_string(), "linux/arm/v6");
        assert!(!Platform::parse("linux/arm/v6").unwrap().matches(&Platform::new("linux", "arm", None)));
    }

    #[test]
    fn malformed_platforms_are_rejected() {
        for bad in ["", "linux", "linux/", "/amd64", "linux/arm/v7/x"] {
            let err = Platform::parse(bad).unwrap_err();
            assert!(matches!(&err, RegistryError::BadPlatform { input, .. } if input == bad), "{bad}: {err}");
        }
    }

    #[test]
    fn host_platform_is_in_oci_vocabulary() {
        let host = Platform::host();
        assert_eq!(host.os, std::env::consts::OS);
        assert!(!["x86_64", "aarch64"].contains(&host.architecture.as_str()), "{host}");
    }
}
