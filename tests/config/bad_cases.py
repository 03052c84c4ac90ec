"""Bad workflow files and the exact messages each must produce (as wf.yml, no claude on PATH)."""
# ruff: noqa: E501

BAD_CASES: list[tuple[str, str, list[str]]] = [
    (
        'unknown_key_hint',
        'name: wf\nmap:\n  input: items.json\n  max_paralel: 4\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:4 map.max_paralel: unknown key, did you mean max_parallel?'],
    ),
    (
        'unknown_key_no_hint',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\nzebra: 1\n',
        ['wf.yml:6 zebra: unknown key'],
    ),
    (
        'string_for_int',
        'name: wf\nmap:\n  input: items.json\n  max_parallel: "ten"\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:4 map.max_parallel: expected a whole number ≥ 1, got "ten"'],
    ),
    (
        'float_for_int',
        'name: wf\nmap:\n  input: items.json\n  max_parallel: 2.9\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:4 map.max_parallel: expected a whole number ≥ 1, got 2.9'],
    ),
    (
        'zero_parallel',
        'name: wf\nmap:\n  input: items.json\n  max_parallel: 0\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:4 map.max_parallel: expected a whole number ≥ 1, got 0'],
    ),
    (
        'bool_for_duration',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n      timeout: yes\n',
        ['wf.yml:6 map.agent_template[0].timeout: expected a duration such as 30, "1.5s" or "2m", got true'],
    ),
    (
        'bad_duration_text',
        'name: wf\nmap:\n  input: items.json\n  agent_timeout_secs: 5 minutes\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:4 map.agent_timeout_secs: expected a duration such as 30, "1.5s" or "2m", got "5 minutes"'],
    ),
    (
        'zero_duration',
        'name: wf\nsetup:\n  timeout: 0\n  commands: [{shell: echo}]\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:3 setup.timeout: expected a duration greater than 0, got 0'],
    ),
    (
        'infinite_duration',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n      timeout: .inf\n',
        ['wf.yml:6 map.agent_template[0].timeout: expected a finite duration, got .inf'],
    ),
    (
        'list_for_mapping',
        'name: wf\nmap:\n  - input: items.json\n',
        ['wf.yml:3 map: expected a mapping, got a list'],
    ),
    (
        'mapping_for_string',
        'name: wf\nmap:\n  input: {file: items.json}\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:3 map.input: expected a string, got a mapping'],
    ),
    (
        'yes_for_number',
        'name: wf\nmax_failures: yes\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:2 max_failures: expected a whole number ≥ 1, got true'],
    ),
    (
        'string_for_bool',
        'name: wf\ncontinue_on_failure: "no"\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:2 continue_on_failure: expected true or false, got "no"'],
    ),
    (
        'missing_var',
        'name: wf\nmap:\n  input: items.json\n  max_parallel: $WORKERS\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:4 map.max_parallel: $WORKERS is not set: WORKERS is neither in env: nor in the environment'],
    ),
    (
        'non_numeric_var',
        'name: wf\nenv:\n  WORKERS: ten\nmap:\n  input: items.json\n  max_parallel: ${WORKERS}\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:6 map.max_parallel: ${WORKERS} is "ten", expected a whole number ≥ 1'],
    ),
    (
        'missing_name',
        'map:\n  input: items.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:1: missing required key name'],
    ),
    (
        'missing_map',
        'name: wf\n',
        ['wf.yml:1: missing required key map'],
    ),
    (
        'missing_input',
        'name: wf\nmap:\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:3 map: missing required key input'],
    ),
    (
        'empty_template',
        'name: wf\nmap:\n  input: items.json\n  agent_template: []\n',
        ['wf.yml:4 map.agent_template: needs at least one step'],
    ),
    (
        'two_kinds',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n    - shell: echo\n      claude: /fix\n',
        ['wf.yml:6 map.agent_template[1]: a step needs exactly one of shell, claude or write_file, got shell and claude'],
    ),
    (
        'no_kind',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - name: nothing\n',
        ['wf.yml:5 map.agent_template[0]: a step needs exactly one of shell, claude or write_file'],
    ),
    (
        'on_failure_number',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n      on_failure: 3\n',
        ['wf.yml:6 map.agent_template[0].on_failure: expected true, false, a command, a list of commands or a mapping with shell or claude, got 3'],
    ),
    (
        'on_failure_list_of_maps',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n      on_failure:\n        - echo a\n        - {shell: b}\n',
        ['wf.yml:8 map.agent_template[0].on_failure[1]: on_failure takes one mapping, not a list of them (Prodigy rejects this form too): write {shell: ..., max_attempts: ...}, or a list of commands'],
    ),
    (
        'on_failure_no_handler',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n      on_failure:\n        max_attempts: 2\n',
        ['wf.yml:7 map.agent_template[0].on_failure: a step needs exactly one of shell, claude or write_file'],
    ),
    (
        'on_failure_bad_attempts',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n      on_failure:\n        shell: fix\n        max_attempts: 0\n',
        ['wf.yml:8 map.agent_template[0].on_failure.max_attempts: expected a whole number ≥ 1, got 0'],
    ),
    (
        'bad_capture_name',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n      capture_output: 2bad\n',
        ['wf.yml:6 map.agent_template[0].capture_output: expected true, false or a variable name, got "2bad"'],
    ),
    (
        'reserved_capture_name',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n      capture_output: item\n',
        ['wf.yml:6 map.agent_template[0].capture_output: "item" is a reserved variable name; choose another capture name'],
    ),
    (
        'command_index_range',
        'name: wf\nsetup:\n  commands:\n    - shell: echo 1\n  capture_outputs:\n    count: 3\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:6 setup.capture_outputs.count: command index 3 is out of range: setup has 1 step (0 to 0)'],
    ),
    (
        'duplicate_key',
        'name: wf\nmap:\n  input: items.json\n  input: other.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:4 map.input: duplicate key; it is already set on line 3'],
    ),
    (
        'yaml_syntax',
        'name: wf\nmap:\n  input: items.json\n   agent_template: [\n',
        ['wf.yml:4:18: invalid YAML: mapping values are not allowed here'],
    ),
    (
        'top_level_list',
        '- name: wf\n',
        ['wf.yml:1: expected a mapping of workflow keys at the top level, got a list'],
    ),
    (
        'empty_file',
        '',
        ['wf.yml: the file is empty; a workflow needs at least name: and map:'],
    ),
    (
        'bad_mode',
        'name: wf\nmode: batch\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:2 mode: expected "mapreduce" (the only mode there is), got "batch"'],
    ),
    (
        'custom_phase_builtin_name',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\ncustom_phases:\n  - type: map\n',
        ['wf.yml:7 custom_phases[0].type: phase name "map" is taken by a built-in state; set name: to choose another'],
    ),
    (
        'custom_phase_bad_after',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\ncustom_phases:\n  - type: verify\n    after: deploy\n',
        ['wf.yml:8 custom_phases[0].after: no phase named "deploy"; phases: setup, map, reduce'],
    ),
    (
        'custom_phase_both',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\ncustom_phases:\n  - type: verify\n    after: map\n    before: reduce\n',
        ['wf.yml:7 custom_phases[0]: set after or before, not both'],
    ),
    (
        'custom_phase_duplicate',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\ncustom_phases:\n  - type: verify\n  - type: verify\n',
        ['wf.yml:8 custom_phases[1].type: phase name "verify" is used twice; names must be unique'],
    ),
    (
        'policy_both_places',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\nmax_failures: 3\nerror_policy:\n  max_failures: 4\n',
        ['wf.yml:6 max_failures: also set in error_policy; set it in one place only'],
    ),
    (
        'failure_threshold_range',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\nerror_policy:\n  failure_threshold: 1.5\n',
        ['wf.yml:7 error_policy.failure_threshold: expected a number greater than 0 and at most 1, got 1.5'],
    ),
    (
        'many_errors',
        'name: wf\nmap:\n  input: items.json\n  max_parallel: -1\n  offset: x\n  agent_template:\n    - shell: echo\n      timeout: soon\nreduce:\n  - bogus: 1\n',
        ['wf.yml:4 map.max_parallel: expected a whole number ≥ 1, got -1', 'wf.yml:5 map.offset: expected a whole number ≥ 0, got "x"', 'wf.yml:8 map.agent_template[0].timeout: expected a duration such as 30, "1.5s" or "2m", got "soon"', 'wf.yml:10 reduce[0].bogus: unknown key', 'wf.yml:10 reduce[0]: a step needs exactly one of shell, claude or write_file'],
    ),
    (
        'map_total_in_template',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo ${map.total}\n',
        ['wf.yml:5 map.agent_template[0].shell: ${map.total} is not available in map (the map.* variables exist in reduce only)'],
    ),
    (
        'map_typo_in_reduce',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\nreduce:\n  - shell: echo ${map.totl}\n',
        ['wf.yml:7 reduce[0].shell: ${map.totl} is not a map variable; did you mean ${map.total}? (available: map.total, map.successful, map.failed, map.skipped, map.success_rate, map.results, map.results_file, map.total_duration_secs, map.average_duration_secs)'],
    ),
    (
        'workflow_typo',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo ${workflow.nme}\n',
        ['wf.yml:5 map.agent_template[0].shell: ${workflow.nme} is not a workflow variable; did you mean ${workflow.name}? (available: workflow.name)'],
    ),
    (
        'error_outside_on_failure',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo ${error.message}\n',
        ['wf.yml:5 map.agent_template[0].shell: ${error.message} is not available in map (error.* is only set inside on_failure)'],
    ),
    (
        'item_in_reduce',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\nreduce:\n  - shell: echo ${item.path}\n',
        ['wf.yml:7 reduce[0].shell: ${item.path} is not available in reduce (the item variables exist in map.agent_template only)'],
    ),
    (
        'last_before_the_first_step',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo ${last.exit_code}\nreduce:\n  when: "${shell.output} == 1"\n  commands: [{shell: echo}]\n',
        ['wf.yml:5 map.agent_template[0].shell: ${last.exit_code} is not available before the first step of map has run (last.* is set by the step before)',
         'wf.yml:7 reduce.when: ${shell.output} is not available before the first step of reduce has run (shell.* is set by the step before)'],
    ),
    (
        'impossible_timestamp',
        'name: 2024-13-45\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:1 name: "2024-13-45" is not a valid timestamp: month must be in 1..12'],
    ),
    (
        'bad_int_tag_on_a_key',
        'name: wf\n!!int x: 1\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:2: "x" is not a valid int: invalid literal for int() with base 10: \'x\''],
    ),
    (
        'nested_too_deeply',
        'name: wf\nmap: ' + '[' * 600 + ']' * 600 + '\n',
        ['wf.yml:2:106: the YAML is nested more than 100 levels deep (a workflow needs a few levels, not hundreds)'],
    ),
    (
        'bad_distinct_and_id_field_paths',
        'name: wf\nmap:\n  input: items.json\n  distinct: "(("\n  id_field: "a..b"\n  agent_template:\n    - shell: echo\n',
        ["wf.yml:4 map.distinct: expected a field name, found '(' at column 1",
         "wf.yml:5 map.id_field: expected a field name after '.', found '.' at column 3"],
    ),
    (
        'bad_filter',
        'name: wf\nmap:\n  input: items.json\n  filter: "size > "\n  agent_template:\n    - shell: echo\n',
        ["wf.yml:4 map.filter: expected a value after '>' at column 8"],
    ),
    (
        'bad_json_path',
        'name: wf\nmap:\n  input: items.json\n  json_path: "$.items[?(@.n > ]"\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:4 map.json_path: not valid JSONPath: Parse error near token ] (]) at column 17'],
    ),
    (
        'bad_capture_json_path',
        'name: wf\nsetup:\n  commands:\n    - shell: echo {}\n  capture_outputs:\n    REGION: { command_index: 0, json_path: "$.a[" }\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:6 setup.capture_outputs.REGION.json_path: not valid JSONPath: Parse error near the end of string! at column 5'],
    ),
    (
        'bad_sort',
        'name: wf\nmap:\n  input: items.json\n  sort_by: "size DESC NULLS"\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:4 map.sort_by: expected FIRST or LAST after NULLS, found the end of the expression at column 16'],
    ),
    (
        'bad_backoff',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\nretry_config:\n  backoff: quadratic\n',
        ['wf.yml:7 retry_config.backoff: expected one of exponential, linear, fixed, fibonacci, got "quadratic"'],
    ),
    (
        'bad_write_mode',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - write_file:\n        path: out.txt\n        content: hi\n        mode: 0644\n',
        ['wf.yml:8 map.agent_template[0].write_file.mode: expected an octal mode in quotes such as "0644", got 420'],
    ),
    (
        'bad_env_value',
        'name: wf\nenv:\n  LIST: [1, 2]\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:3 env.LIST: expected a string, number or boolean, got a list'],
    ),
    (
        'bad_secret',
        'name: wf\nsecrets:\n  TOKEN: {var: X}\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n',
        ['wf.yml:3 secrets.TOKEN.var: unknown key', 'wf.yml:3 secrets.TOKEN: missing required key provider', 'wf.yml:3 secrets.TOKEN: missing required key key'],
    ),
    (
        'env_typo',
        'name: wf\nenv:\n  OUT: out\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo ${env.OUTT}\n',
        ['wf.yml:7 map.agent_template[0].shell: ${env.OUTT} is not an env variable; did you mean ${env.OUT}? (available: env.OUT)'],
    ),
    (
        'bad_when',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo\n      when: "${item.size} >"\n',
        ["wf.yml:6 map.agent_template[0].when: expected a value after '>' at column 15"],
    ),
    (
        'claude_missing',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - claude: /review ${item}\n',
        ["wf.yml:5 map.agent_template[0]: a claude step needs the Claude Code program, but 'claude' is not on PATH; install Claude Code or set MAPREDUCE_FSM_CLAUDE to the command that runs it"],
    ),
    (
        'merge_variable_typo',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\nmerge:\n  - shell: cd ${merge.worktre}\n',
        ['wf.yml:7 merge[0].shell: ${merge.worktre} is not a merge variable; did you mean ${merge.worktree}? (available: merge.worktree, merge.source_branch, merge.target_branch, merge.session_id, merge.commits, merge.commit_count, merge.commit_ids, merge.modified_files, merge.file_count, merge.file_list)'],
    ),
    (
        'merge_variable_typo_in_commands_form',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\nmerge:\n  timeout: 60\n  commands:\n    - shell: git merge ${merge.source_brnch}\n',
        ['wf.yml:9 merge.commands[0].shell: ${merge.source_brnch} is not a merge variable; did you mean ${merge.source_branch}? (available: merge.worktree, merge.source_branch, merge.target_branch, merge.session_id, merge.commits, merge.commit_count, merge.commit_ids, merge.modified_files, merge.file_count, merge.file_list)'],
    ),
    (
        'merge_variable_outside_merge',
        'name: wf\nmap:\n  input: items.json\n  agent_template:\n    - shell: echo hi\nreduce:\n  - shell: echo ${merge.commit_count}\n',
        ['wf.yml:7 reduce[0].shell: ${merge.commit_count} is not available in reduce (the merge.* variables exist in merge steps only)'],
    ),
]
