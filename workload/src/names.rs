//! Name and number data the generator draws from. Frequencies are rough
//! national figures tilted towards south-east Gansu (more 杨, 马, 赵), which
//! is enough for lists, searches and sort orders to look like the real thing.

use rand::Rng;

/// Surnames with relative weights (per mille, rounded).
pub const SURNAMES: &[(&str, u32)] = &[
    ("王", 72),
    ("李", 70),
    ("张", 66),
    ("刘", 54),
    ("杨", 50),
    ("赵", 30),
    ("陈", 28),
    ("马", 22),
    ("何", 14),
    ("黄", 12),
    ("周", 14),
    ("吴", 12),
    ("徐", 10),
    ("孙", 12),
    ("胡", 12),
    ("朱", 11),
    ("高", 13),
    ("郭", 12),
    ("罗", 8),
    ("梁", 7),
    ("宋", 8),
    ("郑", 6),
    ("谢", 6),
    ("韩", 8),
    ("唐", 6),
    ("冯", 7),
    ("董", 7),
    ("程", 6),
    ("曹", 6),
    ("袁", 5),
    ("邓", 4),
    ("许", 5),
    ("苏", 5),
    ("吕", 5),
    ("蒋", 4),
    ("贾", 6),
    ("丁", 5),
    ("魏", 6),
    ("薛", 4),
    ("余", 3),
    ("杜", 5),
    ("田", 6),
    ("任", 5),
    ("姜", 4),
    ("范", 4),
    ("石", 4),
    ("姚", 4),
    ("雷", 5),
    ("白", 4),
    ("崔", 3),
    ("康", 3),
    ("毛", 3),
    ("秦", 4),
    ("史", 3),
    ("侯", 3),
    ("孟", 3),
    ("段", 4),
    ("汪", 3),
    ("武", 3),
    ("乔", 3),
    ("常", 3),
    ("贺", 3),
    ("文", 2),
    ("席", 2),
    ("牛", 3),
    ("焦", 2),
    ("欧阳", 1),
    ("司马", 1),
];

pub const MALE_GIVEN: &[&str] = &[
    "伟", "强", "军", "磊", "勇", "杰", "涛", "明", "超", "刚", "平", "辉", "鹏", "华", "飞", "鑫",
    "波", "斌", "宇", "浩", "凯", "健", "俊", "帆", "旭", "宁", "龙", "林", "国", "建", "志", "文",
    "海", "春", "生", "福", "成", "永", "德", "有", "兴", "安", "忠", "贵", "宏", "荣", "虎", "锋",
    "亮", "峰",
];

pub const FEMALE_GIVEN: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀", "英", "玲", "桂", "兰", "萍", "燕", "梅",
    "琳", "婷", "雪", "慧", "倩", "红", "晶", "莉", "颖", "丹", "洁", "琴", "云", "花", "凤", "翠",
    "菊", "珍", "月", "芬", "彩", "瑶", "欣", "怡",
];

/// The 12 townships of the reference county, with how many villages each
/// holds (116 in all); 城关镇 also holds the 5 urban communities.
pub const TOWNSHIPS: &[(&str, usize)] = &[
    ("城关镇", 9),
    ("站儿巷镇", 12),
    ("西坡镇", 11),
    ("杨店镇", 10),
    ("显龙镇", 9),
    ("鱼池镇", 10),
    ("左家镇", 8),
    ("张家镇", 11),
    ("云屏镇", 9),
    ("泰山乡", 9),
    ("金洞乡", 9),
    ("兴化乡", 9),
];

pub const COUNTY: &str = "两当县";
/// Area code of 两当县 in resident ID numbers.
pub const AREA_CODE: &str = "621228";
/// Neighbouring counties people marry in from (徽县, 礼县, 成县, 西和县, 凤县).
pub const NEIGHBOUR_AREA_CODES: &[&str] = &["621227", "621226", "621221", "621225", "610330"];

pub const COMMUNITIES: &[&str] = &["城南社区", "城北社区", "广香社区", "东街社区", "西街社区"];

pub const COMPOUNDS: &[&str] = &[
    "锦苑小区",
    "金都小区",
    "东城花园小区",
    "滨河小区",
    "育才小区",
    "广香苑小区",
    "惠民小区",
    "幸福家园小区",
    "嘉陵小区",
    "新城小区",
    "银杏小区",
    "阳光小区",
    "和谐小区",
    "锦绣小区",
    "凤凰小区",
];

/// First and second syllables of village names (东关, 杨家河 …).
pub const VILLAGE_FIRST: &[&str] = &[
    "东", "西", "南", "北", "上", "下", "中", "大", "小", "新", "高", "杨", "柳", "杏", "桃", "石",
    "沙", "水", "黄", "白", "青", "红", "金", "龙", "凤", "太", "广", "安", "永", "马", "双", "罗",
    "何家", "张家", "王家", "李家", "刘家", "杨家", "赵家",
];
pub const VILLAGE_SECOND: &[&str] = &[
    "关", "河", "坪", "沟", "湾", "庄", "山", "坝", "岭", "峪", "川", "台", "塬", "寨", "堡", "园",
    "林", "店", "铺", "桥", "岔", "口", "滩", "坡", "崖", "院",
];

pub const CHINESE_NUMBERS: &[&str] = &["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"];

/// Where migrant workers come back from.
pub const CITIES: &[(&str, &str)] = &[
    ("西安市", "陕西省西安市"),
    ("兰州市", "甘肃省兰州市"),
    ("成都市", "四川省成都市"),
    ("宝鸡市", "陕西省宝鸡市"),
    ("汉中市", "陕西省汉中市"),
    ("天水市", "甘肃省天水市"),
    ("广州市", "广东省广州市"),
    ("深圳市", "广东省深圳市"),
    ("上海市", "上海市浦东新区"),
    ("北京市", "北京市朝阳区"),
    ("乌鲁木齐市", "新疆维吾尔自治区乌鲁木齐市"),
    ("银川市", "宁夏回族自治区银川市"),
    ("重庆市", "重庆市渝北区"),
    ("郑州市", "河南省郑州市"),
    ("东莞市", "广东省东莞市"),
];

/// Mobile number prefixes in use on the mainland (13x–19x).
pub const PHONE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "166", "173", "177", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "193", "195", "198", "199",
];

pub const ERRANDS: &[&str] = &[
    "代购药品",
    "代买米面油",
    "代缴电费",
    "陪同就医",
    "代取快递",
    "送煤",
];

pub fn pick<'a, R: Rng>(rng: &mut R, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

pub fn surname<R: Rng>(rng: &mut R) -> &'static str {
    let total: u32 = SURNAMES.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (name, w) in SURNAMES {
        if x < *w {
            return name;
        }
        x -= w;
    }
    SURNAMES[0].0
}

/// A one- or two-character given name; about a third are single characters.
pub fn given_name<R: Rng>(rng: &mut R, male: bool) -> String {
    let pool = if male { MALE_GIVEN } else { FEMALE_GIVEN };
    let first = pick(rng, pool);
    if rng.random_bool(0.35) {
        first.to_string()
    } else {
        let mut second = pick(rng, pool);
        // 伟伟 reads as a nickname; draw once more to make it rare.
        if second == first {
            second = pick(rng, pool);
        }
        format!("{first}{second}")
    }
}

pub fn mobile<R: Rng>(rng: &mut R) -> String {
    format!(
        "{}{:08}",
        pick(rng, PHONE_PREFIXES),
        rng.random_range(0..100_000_000u32)
    )
}

pub fn chinese_number(n: usize) -> String {
    match n {
        1..=10 => CHINESE_NUMBERS[n - 1].to_string(),
        11..=19 => format!("十{}", CHINESE_NUMBERS[n - 11]),
        _ => n.to_string(),
    }
}

pub const NOTICES: &[&str] = &[
    "通知：本周五村卫生室接种疫苗",
    "通知：冬季取暖补贴申领",
    "通知：明日停水检修",
    "提醒：冬季用火用电安全",
    "通知：返乡人员须向村委会报备",
];
