//! The dashboard's words, in Chinese (the default) and English.

/// A page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: Option<&str>) -> Lang {
        match s {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }

    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// `key` in this language (the key itself when unknown).
    pub fn t(self, key: &'static str) -> &'static str {
        let (zh, en) = match key {
            "title" => ("乡镇工作台", "Township dashboard"),
            "switch" => ("English", "中文"),
            "login" => ("登录", "Log in"),
            "logout" => ("退出", "Log out"),
            "user" => ("用户名", "User name"),
            "password" => ("密码", "Password"),
            "login_failed" => (
                "用户名或密码不对，请重试。",
                "Wrong user name or password; try again.",
            ),
            "login_locked" => (
                "此账号登录失败次数过多，请15分钟后再试。",
                "Too many wrong passwords for this name; try again in 15 minutes.",
            ),
            "login_busy" => (
                "正在核对其他登录，请稍后再试。",
                "Other logins are being checked; try again in a moment.",
            ),
            "login_expired" => (
                "页面已过期，请重新登录。",
                "The page had expired; log in again.",
            ),
            "login_needed" => (
                "请用办公室账号登录（由 silin hub user add 设置）。",
                "Log in with an office account (set with silin hub user add).",
            ),
            "date" => ("日期", "Date"),
            "show" => ("查看", "Show"),
            "zero_report" => ("今日零报告", "Zero reports of the day"),
            "village" => ("村（社区）", "Village"),
            "group" => ("组", "Group"),
            "cells" => ("联户数", "Cells"),
            "reported" => ("已报告", "Reported"),
            "missing" => ("未报告", "Missing"),
            "arrivals" => ("新到达", "Arrivals"),
            "abnormal" => ("异常", "Abnormal"),
            "door_knocks" => ("入户走访", "Door knocks"),
            "calls" => ("电话联系", "Calls"),
            "errands" => ("代办服务", "Errands"),
            "cell" => ("联户", "Cell"),
            "lead" => ("联户长", "Lead"),
            "lead_phone" => ("联户长电话", "Lead's phone"),
            "status" => ("状态", "Status"),
            "yes" => ("已报告", "reported"),
            "no" => ("未报告", "missing"),
            "monitoring" => ("居家监测人员", "Under home monitoring"),
            "name" => ("姓名", "Name"),
            "phone" => ("电话", "Phone"),
            "until" => ("监测截止", "Until"),
            "days_left" => ("剩余天数", "Days left"),
            "tasks" => ("名单任务完成情况", "Tasks per list"),
            "list" => ("名单", "List"),
            "kind" => ("类型", "Kind"),
            "total" => ("任务数", "Tasks"),
            "done" => ("已完成", "Done"),
            "open" => ("未完成", "Open"),
            "completion" => ("完成率", "Completion"),
            "resident_id" => ("身份证号", "Resident ID"),
            "task" => ("任务", "Task"),
            "sync" => ("设备同步情况", "Device sync"),
            "device" => ("设备", "Device"),
            "role" => ("角色", "Role"),
            "scope" => ("范围", "Scope"),
            "last_sync" => ("最近同步", "Last sync"),
            "days_since" => ("未同步天数", "Days since"),
            "stale" => ("超过天数未同步", "Not synced for days"),
            "trend" => ("近14天报告趋势", "Reports, last 14 days"),
            "notices" => ("近7天通知送达情况", "Notices of the last 7 days"),
            "notice" => ("通知", "Notice"),
            "posted" => ("发布时间", "Posted"),
            "region" => ("发送范围", "Sent to"),
            "reached_of" => ("已送达/总户数", "Reached"),
            "coverage" => ("送达率", "Coverage"),
            "unmarked_cells" => ("未标记联户", "Cells with no mark yet"),
            "households" => ("户数", "Households"),
            "read" => ("已读", "Read"),
            "relayed" => ("已转告", "Relayed"),
            "not_reached" => ("未送达", "Not reached"),
            "no_mark" => ("未标记", "no mark yet"),
            "partly_reached" => ("部分送达", "partly reached"),
            "all_reached" => ("全部送达", "all reached"),
            "no_notice" => ("此中心没有这条通知", "No such notice on this hub"),
            "back" => ("返回", "Back"),
            "none" => ("无", "none"),
            "other_tasks" => ("其他任务", "Other tasks"),
            "counts_only_note" => (
                "此账号只看统计数：1至4的数，以及能由旁边的数推算出它们的数，显示为“*”，以免认出个人；不显示人员、联户、设备和通知。",
                "This login sees counts only: counts from 1 to 4, and counts beside them from which they could be worked out, show as \"*\" so that no one can be singled out; no people, cells, devices or notices.",
            ),
            "counts_only_refused" => (
                "此账号只看统计数，不能查看联户、名单或通知的明细；此次查看已记入审计日志。",
                "This login sees counts only and may not open cells, a list's tasks or a notice's cells; the attempt is in the audit log.",
            ),
            _ => (key, key),
        };
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}
