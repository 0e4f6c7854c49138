//! Every command a key can trigger: its config name, its help text, where it applies and its default keys.

use super::key::{Key, KeyName};

/// Where a command applies. Global commands work everywhere except while typing; the others only while their
/// pane is focused, so two panes may give one key different meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Global,
    List,
    Containers,
    Images,
    Logs,
    Shell,
    Networks,
    Volumes,
    Operations,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::List => "lists",
            Scope::Containers => "containers",
            Scope::Images => "images",
            Scope::Logs => "logs",
            Scope::Shell => "shell",
            Scope::Networks => "networks",
            Scope::Volumes => "volumes",
            Scope::Operations => "operations",
        }
    }

    /// Whether one key may not mean two commands in these two scopes: the same scope, or global against any
    /// other (a global key would shadow or be shadowed). Lists overlap with every list pane.
    pub fn overlaps(self, other: Scope) -> bool {
        let lists =
            |s: Scope| matches!(s, Scope::Containers | Scope::Images | Scope::Logs | Scope::Networks | Scope::Volumes);
        self == other
            || self == Scope::Global
            || other == Scope::Global
            || (self == Scope::List && lists(other))
            || (other == Scope::List && lists(self))
    }
}

macro_rules! commands {
    ($($variant:ident $name:literal $scope:ident $help:literal [$($key:expr),*];)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Command { $($variant),* }

        impl Command {
            pub const ALL: &'static [Command] = &[$(Command::$variant),*];

            /// The name in the `[keys]` table of the config file.
            pub fn name(self) -> &'static str {
                match self { $(Command::$variant => $name),* }
            }

            pub fn scope(self) -> Scope {
                match self { $(Command::$variant => Scope::$scope),* }
            }

            pub fn help(self) -> &'static str {
                match self { $(Command::$variant => $help),* }
            }

            /// The help text as a pane shows it: in the Logs pane `/` searches.
            pub fn help_in(self, scope: Scope) -> &'static str {
                match (self, scope) {
                    (Command::Filter, Scope::Logs) => "search",
                    (Command::NextMatch, Scope::Logs) => "next match below",
                    (Command::PrevMatch, Scope::Logs) => "previous match above",
                    _ => self.help(),
                }
            }

            pub fn default_keys(self) -> Vec<Key> {
                match self { $(Command::$variant => vec![$($key),*]),* }
            }
        }
    };
}

const fn k(code: KeyName) -> Key {
    Key::plain(code)
}

commands! {
    Quit "quit" Global "quit" [Key::ch('q')];
    Help "help" Global "help" [Key::ch('?'), k(KeyName::F(1))];
    Back "back" Global "close, go back" [k(KeyName::Esc)];
    NextPane "next_pane" Global "next pane" [k(KeyName::Tab)];
    PrevPane "prev_pane" Global "previous pane" [k(KeyName::BackTab)];
    GoContainers "pane_containers" Global "containers" [Key::ch('1')];
    GoImages "pane_images" Global "images" [Key::ch('2')];
    GoLogs "pane_logs" Global "logs" [Key::ch('3')];
    GoStats "pane_stats" Global "stats" [Key::ch('4')];
    GoShell "pane_shell" Global "shell" [Key::ch('5')];
    GoOperations "pane_operations" Global "operations log" [Key::ch('6')];
    GoNetworks "pane_networks" Global "networks" [Key::ch('7')];
    GoVolumes "pane_volumes" Global "volumes" [Key::ch('8')];
    CommandLine "command_line" Global "berth command" [Key::ch(':')];
    SwitchEngine "switch_engine" Global "next engine, then all engines" [Key::ch('E')];
    ToggleMouse "toggle_mouse" Global "mouse on/off (off lets you select text)" [Key::ch('M')];
    Up "up" List "up" [Key::ch('k'), k(KeyName::Up)];
    Down "down" List "down" [Key::ch('j'), k(KeyName::Down)];
    Top "top" List "first" [Key::ch('g'), k(KeyName::Home)];
    Bottom "bottom" List "last" [Key::ch('G'), k(KeyName::End)];
    PageUp "page_up" List "page up" [k(KeyName::PageUp), Key::ctrl('u')];
    PageDown "page_down" List "page down" [k(KeyName::PageDown), Key::ctrl('d')];
    Filter "filter" List "filter" [Key::ch('/')];
    Start "start" Containers "start" [Key::ch('s')];
    Stop "stop" Containers "stop" [Key::ch('S')];
    Restart "restart" Containers "restart" [Key::ch('r')];
    PauseToggle "pause" Containers "pause/unpause" [Key::ch('p')];
    Kill "kill" Containers "kill" [Key::ch('K')];
    RemoveContainer "remove_container" Containers "remove" [Key::ch('D'), k(KeyName::Delete)];
    Mark "mark" Containers "mark for bulk" [Key::ch(' ')];
    Sort "sort" Containers "sort by next column (name, image, state, started, cpu, mem)" [Key::ch('o')];
    ReverseSort "reverse_sort" Containers "reverse the sort" [Key::ch('O')];
    MarkAll "mark_all" Containers "mark all shown (again: none)" [Key::ch('*')];
    Logs "logs" Containers "logs" [Key::ch('l')];
    Exec "shell" Containers "open shell" [Key::ch('e')];
    Attach "attach" Containers "attach to the main process" [Key::ch('a')];
    InspectContainer "inspect_container" Containers "inspect" [Key::ch('i'), k(KeyName::Enter)];
    RunNew "run" Containers "run a container" [Key::ch('n')];
    ToggleGroup "toggle_group" Containers "fold/unfold a pod or project" [Key::ch('z')];
    ProjectUp "project_up" Containers "project up" [Key::ch('U')];
    ProjectDown "project_down" Containers "project down" [Key::ch('d')];
    ProjectRestart "project_restart" Containers "project restart" [Key::ch('R')];
    ProjectScale "project_scale" Containers "scale a service" [Key::ch('+')];
    Pull "pull" Images "pull" [Key::ch('p')];
    Push "push" Images "push" [Key::ch('P')];
    Build "build" Images "build" [Key::ch('b')];
    RemoveImage "remove_image" Images "remove" [Key::ch('D'), k(KeyName::Delete)];
    Prune "prune" Images "prune dangling" [Key::ch('X')];
    Layers "layers" Images "layers" [k(KeyName::Enter)];
    ExploreLayers "explore_layers" Images "explore files" [Key::ch('x')];
    InspectImage "inspect_image" Images "inspect" [Key::ch('i')];
    RunImage "run_image" Images "run this image" [Key::ch('r')];
    TagImage "tag_image" Images "tag (on the : line)" [Key::ch('t')];
    Repull "repull" Images "pull again (a newer image)" [Key::ch('u')];
    Follow "follow" Logs "follow on/off" [Key::ch('f')];
    Timestamps "timestamps" Logs "timestamps on/off" [Key::ch('t')];
    Wrap "wrap" Logs "wrap on/off" [Key::ch('w')];
    NextMatch "next_match" Logs "next match" [Key::ch('n')];
    PrevMatch "prev_match" Logs "previous match" [Key::ch('N')];
    OnlyMatches "only_matches" Logs "only matching lines on/off" [Key::ch('F')];
    SaveLog "save_log" Logs "save to file" [Key::ctrl('s')];
    RemoveNetwork "remove_network" Networks "remove" [Key::ch('D'), k(KeyName::Delete)];
    PruneNetworks "prune_networks" Networks "prune unused" [Key::ch('X')];
    InspectNetwork "inspect_network" Networks "inspect" [Key::ch('i'), k(KeyName::Enter)];
    CreateNetwork "create_network" Networks "create (on the : line)" [Key::ch('n')];
    RemoveVolume "remove_volume" Volumes "remove" [Key::ch('D'), k(KeyName::Delete)];
    PruneVolumes "prune_volumes" Volumes "prune unused anonymous" [Key::ch('X')];
    InspectVolume "inspect_volume" Volumes "inspect" [Key::ch('i'), k(KeyName::Enter)];
    CreateVolume "create_volume" Volumes "create (on the : line)" [Key::ch('n')];
 ReopenPull "reopen_pull" Operations "show the pull running in the background" [k(KeyName::Enter)];
    CancelPull "cancel_pull" Operations "cancel the pull running in the background" [Key::ch('c')];
    LeaveShell "leave_shell" Shell "leave the shell (keys go to the UI)" [Key::ctrl('a')];
    CloseShell "close_shell" Shell "close this shell" [Key::ch('x')];
    ResumeShell "resume_shell" Shell "type into the shell again" [k(KeyName::Enter), Key::ch('i')];
    ShellScrollUp "shell_scroll_up" Shell "scroll back" [k(KeyName::PageUp)];
    ShellScrollDown "shell_scroll_down" Shell "scroll forward" [k(KeyName::PageDown)];
    CopyMode "copy_mode" Shell "copy lines (j/k move, v marks, y copies, Esc leaves)" [Key::ch('c')];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = Command::ALL.iter().map(|c| c.name()).collect();
        names.sort();
        let len = names.len();
        names.dedup();
        assert_eq!(names.len(), len);
    }

    #[test]
    fn overlap_rules() {
        assert!(Scope::Global.overlaps(Scope::Images));
        assert!(Scope::Logs.overlaps(Scope::Global));
        assert!(Scope::Images.overlaps(Scope::Images));
        assert!(Scope::List.overlaps(Scope::Containers));
        assert!(!Scope::Containers.overlaps(Scope::Images));
        assert!(!Scope::List.overlaps(Scope::Shell));
        assert!(Scope::List.overlaps(Scope::Volumes));
        assert!(!Scope::Networks.overlaps(Scope::Volumes));
    }
}
