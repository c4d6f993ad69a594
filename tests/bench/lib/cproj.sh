# SPDX-License-Identifier: GPL-2.0-or-later
# rootfs-bench: a synthetic, deterministic C project for the build workload.
# N modules, each a .c and a .h; every .c includes its own header, the next
# four modules' headers and some libc headers, so the compiler reads many
# files from the mount; objects and the program are written to the upper.
cproj_generate() { # DIR N
	local dir=$1 n=$2 i j
	mkdir -p "$dir/src" "$dir/include"
	for ((i = 0; i < n; i++)); do
		{
			printf '#ifndef MOD%d_H\n#define MOD%d_H\n' "$i" "$i"
			printf 'struct mod%d { int a[%d]; long total; };\n' "$i" $((i % 7 + 1))
			printf 'long mod%d_run(long seed);\n#endif\n' "$i"
		} >"$dir/include/mod$i.h"
		{
			printf '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <stdint.h>\n'
			printf '#include "mod%d.h"\n' "$i"
			for ((j = 1; j <= 4; j++)); do printf '#include "mod%d.h"\n' $(((i + j) % n)); done
			printf 'static long step(long x) { return (x * 6364136223846793005L + %d) ^ (x >> 7); }\n' "$i"
			printf 'long mod%d_run(long seed)\n{\n\tstruct mod%d m;\n\tmemset(&m, 0, sizeof(m));\n' "$i" "$i"
			printf '\tfor (int k = 0; k < %d; k++) {\n\t\tseed = step(seed);\n' $((i % 5 + 3))
			printf '\t\tm.a[k %% (int)(sizeof(m.a) / sizeof(m.a[0]))] += (int)(seed & 0xff);\n'
			printf '\t\tm.total += seed %% 1000;\n\t}\n\treturn m.total;\n}\n'
		} >"$dir/src/mod$i.c"
	done
	{
		printf '#include <stdio.h>\n'
		for ((i = 0; i < n; i++)); do printf 'long mod%d_run(long);\n' "$i"; done
		printf 'int main(void)\n{\n\tlong s = 1;\n'
		for ((i = 0; i < n; i++)); do printf '\ts += mod%d_run(s);\n' "$i"; done
		printf '\tprintf("%%ld\\n", s);\n\treturn 0;\n}\n'
	} >"$dir/src/main.c"
	cat >"$dir/Makefile" <<'MK'
SRCS := $(wildcard src/*.c)
OBJS := $(SRCS:src/%.c=obj/%.o)
CFLAGS ?= -O2 -g -Wall
prog: $(OBJS)
	$(CC) -o $@ $(OBJS)
obj/%.o: src/%.c | obj
	$(CC) $(CFLAGS) -Iinclude -c -o $@ $<
obj:
	mkdir -p obj
MK
}
