//! File capabilities in both forms rpm and the kernel use: the text rpm records
//! (`cap_net_raw=ep`, libcap's `cap_from_text` syntax) and the `security.capability` xattr
//! (`struct vfs_cap_data`), reduced to one comparable value.
//!
//! Only what a file capability can express is kept: the permitted and inheritable sets and the
//! single effective flag. A v3 xattr's namespace root id is ignored: a reader inside that
//! namespace sees the same capabilities as a v2 xattr.

/// Capability names by number, as libcap spells them without the `cap_` prefix.
const NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// `VFS_CAP_REVISION_*` (the top byte of `magic_etc`) and `VFS_CAP_FLAGS_EFFECTIVE`.
const REVISION_MASK: u32 = 0xff00_0000;
const REVISION_1: u32 = 0x0100_0000;
const REVISION_2: u32 = 0x0200_0000;
const REVISION_3: u32 = 0x0300_0000;
const FLAG_EFFECTIVE: u32 = 0x0000_0001;

/// What a file capability grants.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileCaps {
    pub permitted: u64,
    pub inheritable: u64,
    /// File capabilities have one effective bit: raise the permitted set at exec.
    pub effective: bool,
}

/// Parses libcap's text form: whitespace-separated clauses `[names]op flags[op flags]...`,
/// names comma-separated (`all` or empty = every capability), op `=`, `+` or `-`, flags from
/// `eip`. `None` when the text is not in that form.
pub fn from_text(text: &str) -> Option<FileCaps> {
    let (mut e, mut i, mut p) = (0u64, 0u64, 0u64);
    for clause in text.split_whitespace() {
        let at = clause.find(['=', '+', '-'])?;
        let (names, mut ops) = clause.split_at(at);
        let set = name_set(names)?;
        while let Some(op) = ops.chars().next() {
            let rest = &ops[1..];
            let end = rest.find(['=', '+', '-']).unwrap_or(rest.len());
            let flags = &rest[..end];
            ops = &rest[end..];
            if op == '=' {
                (e, i, p) = (e & !set, i & !set, p & !set);
            }
            for flag in flags.chars() {
                let target = match flag {
                    'e' => &mut e,
                    'i' => &mut i,
                    'p' => &mut p,
                    _ => return None,
                };
                if op == '-' {
                    *target &= !set;
                } else {
                    *target |= set;
                }
            }
        }
    }
    Some(FileCaps {
        permitted: p,
        inheritable: i,
        effective: e != 0,
    })
}

fn name_set(names: &str) -> Option<u64> {
    let all = (1u64 << NAMES.len()) - 1;
    if names.is_empty() {
        return Some(all);
    }
    let mut set = 0;
    for name in names.split(',') {
        let name = name.to_ascii_lowercase();
        if name == "all" {
            set |= all;
            continue;
        }
        let bare = name.strip_prefix("cap_").unwrap_or(&name);
        let bit = match NAMES.iter().position(|n| *n == bare) {
            Some(bit) => bit,
            None => bare.parse::<usize>().ok().filter(|&b| b < 64)?,
        };
        set |= 1 << bit;
    }
    Some(set)
}

/// Decodes a `security.capability` value; `None` when it is not a valid `vfs_cap_data`.
pub fn from_xattr(value: &[u8]) -> Option<FileCaps> {
    let word = |k: usize| -> Option<u32> {
        let b = value.get(4 * k..4 * k + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let magic = word(0)?;
    let (words, len) = match magic & REVISION_MASK {
        REVISION_1 => (1, 12),
        REVISION_2 => (2, 20),
        REVISION_3 => (2, 24),
        _ => return None,
    };
    if value.len() != len {
        return None;
    }
    let (mut permitted, mut inheritable) = (0u64, 0u64);
    for k in 0..words {
        permitted |= u64::from(word(1 + 2 * k)?) << (32 * k);
        inheritable |= u64::from(word(2 + 2 * k)?) << (32 * k);
    }
    Some(FileCaps {
        permitted,
        inheritable,
        effective: magic & FLAG_EFFECTIVE != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `setcap cap_net_raw=ep` as the kernel stores it (revision 2).
    const NET_RAW_EP: [u8; 20] = [
        0x01, 0, 0, 0x02, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn text_and_xattr_agree() {
        let want = FileCaps {
            permitted: 1 << 13,
            inheritable: 0,
            effective: true,
        };
        assert_eq!(from_xattr(&NET_RAW_EP), Some(want));
        assert_eq!(from_text("cap_net_raw=ep"), Some(want));
        assert_eq!(from_text("CAP_NET_RAW+pe"), Some(want));
        assert_eq!(from_text("13=ep"), Some(want));
        assert_ne!(from_text("cap_net_raw=p"), Some(want));
    }

    #[test]
    fn clauses_combine_in_order() {
        let caps = from_text("cap_net_admin,cap_net_raw=ep cap_net_admin-e cap_setuid+i").unwrap();
        assert_eq!(caps.permitted, (1 << 12) | (1 << 13));
        assert_eq!(caps.inheritable, 1 << 7);
        assert!(caps.effective, "net_raw stays effective");
        let all = from_text("=ep cap_sys_admin-ep").unwrap();
        assert_eq!(all.permitted, ((1u64 << 41) - 1) & !(1 << 21));
        assert_eq!(from_text("all=").unwrap(), FileCaps::default());
    }

    #[test]
    fn malformed_input_is_none() {
        assert_eq!(from_text("cap_nonsense=ep"), None);
        assert_eq!(from_text("cap_net_raw"), None);
        assert_eq!(from_text("cap_net_raw=ex"), None);
        assert_eq!(from_xattr(&NET_RAW_EP[..19]), None);
        assert_eq!(from_xattr(&[0xff; 20]), None);
        assert_eq!(from_xattr(&[]), None);
    }

    #[test]
    fn revision_3_ignores_the_root_id() {
        let mut v3 = NET_RAW_EP.to_vec();
        v3[3] = 0x03;
        v3.extend_from_slice(&1000u32.to_le_bytes());
        assert_eq!(from_xattr(&v3), from_xattr(&NET_RAW_EP));
    }
}
