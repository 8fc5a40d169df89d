//! The rpm header tag numbers this reader uses (rpm's `rpmtag.h`, `RPMTAG_*`), so that the
//! reader needs no rpm library at all. Checked against the `rpm` crate's table in a test.

pub(crate) const NAME: u32 = 1000;
pub(crate) const VERSION: u32 = 1001;
pub(crate) const RELEASE: u32 = 1002;
pub(crate) const EPOCH: u32 = 1003;
pub(crate) const BUILDTIME: u32 = 1006;
pub(crate) const SIZE: u32 = 1009;
pub(crate) const ARCH: u32 = 1022;
pub(crate) const OLDFILENAMES: u32 = 1027;
pub(crate) const FILESIZES: u32 = 1028;
pub(crate) const FILESTATES: u32 = 1029;
pub(crate) const FILEMODES: u32 = 1030;
pub(crate) const FILEMTIMES: u32 = 1034;
pub(crate) const FILEDIGESTS: u32 = 1035;
pub(crate) const FILELINKTOS: u32 = 1036;
pub(crate) const FILEFLAGS: u32 = 1037;
pub(crate) const FILEUSERNAME: u32 = 1039;
pub(crate) const FILEGROUPNAME: u32 = 1040;
pub(crate) const SOURCERPM: u32 = 1044;
pub(crate) const PROVIDENAME: u32 = 1047;
pub(crate) const REQUIRENAME: u32 = 1049;
pub(crate) const CHANGELOGTIME: u32 = 1080;
pub(crate) const FILEDEVICES: u32 = 1095;
pub(crate) const FILEINODES: u32 = 1096;
pub(crate) const DIRINDEXES: u32 = 1116;
pub(crate) const BASENAMES: u32 = 1117;
pub(crate) const DIRNAMES: u32 = 1118;
pub(crate) const LONGFILESIZES: u32 = 5008;
pub(crate) const LONGSIZE: u32 = 5009;
pub(crate) const FILECAPS: u32 = 5010;
pub(crate) const FILEDIGESTALGO: u32 = 5011;

#[cfg(test)]
mod tests {
    use rpm::IndexTag;

    #[test]
    fn numbers_match_the_rpm_crate() {
        let ours = [
            (super::NAME, IndexTag::RPMTAG_NAME),
            (super::VERSION, IndexTag::RPMTAG_VERSION),
            (super::RELEASE, IndexTag::RPMTAG_RELEASE),
            (super::EPOCH, IndexTag::RPMTAG_EPOCH),
            (super::BUILDTIME, IndexTag::RPMTAG_BUILDTIME),
            (super::SIZE, IndexTag::RPMTAG_SIZE),
            (super::ARCH, IndexTag::RPMTAG_ARCH),
            (super::OLDFILENAMES, IndexTag::RPMTAG_OLDFILENAMES),
            (super::FILESIZES, IndexTag::RPMTAG_FILESIZES),
            (super::FILESTATES, IndexTag::RPMTAG_FILESTATES),
            (super::FILEMODES, IndexTag::RPMTAG_FILEMODES),
            (super::FILEMTIMES, IndexTag::RPMTAG_FILEMTIMES),
            (super::FILEDIGESTS, IndexTag::RPMTAG_FILEDIGESTS),
            (super::FILELINKTOS, IndexTag::RPMTAG_FILELINKTOS),
            (super::FILEFLAGS, IndexTag::RPMTAG_FILEFLAGS),
            (super::FILEUSERNAME, IndexTag::RPMTAG_FILEUSERNAME),
            (super::FILEGROUPNAME, IndexTag::RPMTAG_FILEGROUPNAME),
            (super::SOURCERPM, IndexTag::RPMTAG_SOURCERPM),
            (super::PROVIDENAME, IndexTag::RPMTAG_PROVIDENAME),
            (super::REQUIRENAME, IndexTag::RPMTAG_REQUIRENAME),
            (super::CHANGELOGTIME, IndexTag::RPMTAG_CHANGELOGTIME),
            (super::FILEDEVICES, IndexTag::RPMTAG_FILEDEVICES),
            (super::FILEINODES, IndexTag::RPMTAG_FILEINODES),
            (super::DIRINDEXES, IndexTag::RPMTAG_DIRINDEXES),
            (super::BASENAMES, IndexTag::RPMTAG_BASENAMES),
            (super::DIRNAMES, IndexTag::RPMTAG_DIRNAMES),
            (super::LONGFILESIZES, IndexTag::RPMTAG_LONGFILESIZES),
            (super::LONGSIZE, IndexTag::RPMTAG_LONGSIZE),
            (super::FILECAPS, IndexTag::RPMTAG_FILECAPS),
            (super::FILEDIGESTALGO, IndexTag::RPMTAG_FILEDIGESTALGO),
        ];
        for (number, tag) in ours {
            assert_eq!(number, tag as u32, "{tag:?}");
        }
    }
}
