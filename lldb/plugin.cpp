/*
 * py-async-graph for lldb: the `async graph` command.
 *
 *   (lldb) plugin load /usr/lib/x86_64-linux-gnu/py-async-graph/libpyag_lldb.so
 *   (lldb) async graph [OPTIONS] [TASK]
 *
 * A thin front end over libpyag, written against the lldb SB API only. The
 * arguments go unchanged to pyag_command(): options, decoding and formatting
 * all live in the library, so lldb, gdb and the command-line tool print the
 * same bytes.
 *
 * How the target is reached:
 *   - a live process on this machine: the library reads /proc/PID directly
 *     (faster than going through lldb); if that is refused, through lldb;
 *   - a core file: the library opens the core itself (its NT_FILE note maps
 *     the target's files, the platform's sysroot prefixes their paths); when
 *     the core's path cannot be found, through lldb's memory and modules;
 *   - anything else (a remote process): through lldb's memory and modules.
 * Symbols (_PyRuntime, _AsyncioDebug) always come from lldb's modules first.
 * PYAG_LLDB_READ=lldb in the environment forces the last way (a debugging and
 * testing aid).
 */
#include <lldb/API/LLDB.h>

#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyag.h"

namespace lldb {
__attribute__((visibility("default"))) bool PluginInitialize(lldb::SBDebugger debugger);
}

namespace {

const char kNoProcess[] =
	"no process: attach to a Python process or load a core first";

/* What the callbacks need while one command runs. */
struct Session {
	lldb::SBTarget target;
	lldb::SBProcess process;
	bool core = false;
};

/*
 * What a core leaves out (read-only pages of mapped files: a kernel core and
 * gcore skip them) is in the module files lldb loaded: read it from there.
 */
bool read_from_modules(Session *s, uint64_t address, unsigned char *buf,
		       size_t size)
{
	while (size) {
		lldb::SBAddress where(address, s->target);
		lldb::SBSection section = where.GetSection();
		if (!section.IsValid())
			return false;
		uint64_t offset = where.GetOffset();
		uint64_t file_size = section.GetFileByteSize();
		if (offset >= file_size)
			return false;  /* .bss and the like: nothing in the file */
		size_t n = size < file_size - offset ? size : (size_t)(file_size - offset);
		lldb::SBData data = section.GetSectionData(offset, n);
		lldb::SBError error;
		if (data.ReadRawData(error, 0, buf, n) != n || error.Fail())
			return false;
		address += n;
		buf += n;
		size -= n;
	}
	return true;
}

int read_memory_impl(void *arg, uint64_t address, void *buf, size_t size)
{
	Session *s = static_cast<Session *>(arg);
	if (size == 0)
		return 0;
	lldb::SBError error;
	size_t n = s->process.ReadMemory(address, buf, size, error);
	if (error.Success() && n == size)
		return 0;
	if (s->core && read_from_modules(s, address, static_cast<unsigned char *>(buf), size))
		return 0;
	return -1;
}

int find_symbol_impl(void *arg, const char *name, uint64_t *address_ret)
{
	Session *s = static_cast<Session *>(arg);
	lldb::SBSymbolContextList list = s->target.FindSymbols(name);
	for (uint32_t i = 0; i < list.GetSize(); i++) {
		lldb::SBSymbol sym = list.GetContextAtIndex(i).GetSymbol();
		if (!sym.IsValid())
			continue;
		lldb::addr_t a = sym.GetStartAddress().GetLoadAddress(s->target);
		if (a != LLDB_INVALID_ADDRESS && a != 0) {
			*address_ret = a;
			return 0;
		}
	}
	lldb::SBValueList vars = s->target.FindGlobalVariables(name, 1);
	for (uint32_t i = 0; i < vars.GetSize(); i++) {
		lldb::addr_t a = vars.GetValueAtIndex(i).GetLoadAddress();
		if (a != LLDB_INVALID_ADDRESS && a != 0) {
			*address_ret = a;
			return 0;
		}
	}
	return -1;
}

/* The callbacks the library calls: no C++ exception may cross them. */
int read_memory(void *arg, uint64_t address, void *buf, size_t size)
{
	try {
		return read_memory_impl(arg, address, buf, size);
	} catch (...) {
		return -1;
	}
}

int find_symbol(void *arg, const char *name, uint64_t *address_ret)
{
	try {
		return find_symbol_impl(arg, name, address_ret);
	} catch (...) {
		return -1;
	}
}

/* lldb 15 and later tell where the core came from. */
template <typename P>
auto core_file_from_api(P &process, int) -> decltype(process.GetCoreFile(), std::string())
{
	lldb::SBFileSpec spec = process.GetCoreFile();
	char path[PATH_MAX];
	if (spec.IsValid() && spec.GetPath(path, sizeof(path)) > 0)
		return path;
	return std::string();
}

template <typename P>
std::string core_file_from_api(P &, long)
{
	return std::string();
}

bool is_elf_core(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	unsigned char h[18];
	bool ok = read(fd, h, sizeof(h)) == (ssize_t)sizeof(h) &&
		  memcmp(h, "\177ELF", 4) == 0 && h[16] == 4 /* ET_CORE */ && h[17] == 0;
	close(fd);
	return ok;
}

/* Does the core at path hold the same bytes as the process lldb shows? */
bool core_matches(const std::string &path, Session &s)
{
	struct pyag_session *core = nullptr;
	struct pyag_error *err = pyag_session_create_core(path.c_str(), nullptr,
							  nullptr, &core);
	if (err) {
		pyag_error_destroy(err);
		return false;
	}
	std::vector<uint64_t> probes;
	lldb::SBThread thread = s.process.GetSelectedThread();
	if (thread.IsValid() && thread.GetNumFrames() > 0)
		probes.push_back(thread.GetFrameAtIndex(0).GetSP());
	uint64_t runtime = 0;
	if (find_symbol(&s, "_PyRuntime", &runtime) == 0)
		probes.push_back(runtime);
	bool compared = false, same = true;
	for (uint64_t a : probes) {
		unsigned char mine[64], theirs[64];
		err = pyag_session_read(core, a, mine, sizeof(mine));
		if (err) {
			pyag_error_destroy(err);
			continue;
		}
		if (read_memory(&s, a, theirs, sizeof(theirs)) != 0)
			continue;
		compared = true;
		same = same && memcmp(mine, theirs, sizeof(mine)) == 0;
	}
	pyag_session_destroy(core);
	return compared && same;
}

/*
 * Older lldb has no SBProcess::GetCoreFile(); lldb maps the core it loaded
 * into its own address space, so look there for an ELF core whose bytes are
 * those of the process.
 */
std::string core_file_from_maps(Session &s)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return std::string();
	std::vector<std::string> seen;
	std::string found;
	char line[PATH_MAX + 256];
	while (found.empty() && fgets(line, sizeof(line), f)) {
		unsigned long long offset;
		int name_at = 0;
		if (sscanf(line, "%*x-%*x %*s %llx %*s %*s %n", &offset, &name_at) < 1 ||
		    !name_at || offset != 0 || line[name_at] != '/')
			continue;
		std::string path(line + name_at);
		while (!path.empty() && path.back() == '\n')
			path.pop_back();
		bool dup = false;
		for (const std::string &p : seen)
			dup = dup || p == path;
		if (dup)
			continue;
		seen.push_back(path);
		struct stat st;
		if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
		    !is_elf_core(path.c_str()))
			continue;
		if (core_matches(path, s))
			found = path;
	}
	fclose(f);
	return found;
}

/* The platform's sysroot ("platform select host --sysroot DIR"). */
std::string platform_sysroot(lldb::SBDebugger &debugger)
{
	lldb::SBCommandReturnObject ret;
	debugger.GetCommandInterpreter().HandleCommand("platform status", ret, false);
	const char *out = ret.GetOutput();
	if (!ret.Succeeded() || !out)
		return std::string();
	const char *p = strstr(out, "Sysroot: ");
	if (!p)
		return std::string();
	p += strlen("Sysroot: ");
	std::string root(p, strcspn(p, "\n"));
	while (!root.empty() && (root.back() == ' ' || root.back() == '/'))
		root.pop_back();
	return root;
}

bool is_core_process(lldb::SBProcess &process)
{
	const char *plugin = process.GetPluginName();
	if (!plugin)
		return false;
	/* "elf-core", "mach-o-core", "minidump" */
	return strstr(plugin, "core") != nullptr || strcmp(plugin, "minidump") == 0;
}

/* A live process on this machine, which the library can read by pid. */
bool is_local_live(lldb::SBTarget &target, lldb::SBProcess &process)
{
	lldb::SBPlatform platform = target.GetPlatform();
	const char *name = platform.IsValid() ? platform.GetName() : nullptr;
	if (!name || strcmp(name, "host") != 0)
		return false;
	lldb::pid_t pid = process.GetProcessID();
	if (pid == LLDB_INVALID_PROCESS_ID || pid == 0 || pid > INT_MAX)
		return false;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%llu/exe", (unsigned long long)pid);
	char exe[PATH_MAX];
	ssize_t n = readlink(path, exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	/* the same program: a remote process on this "host" platform would
	 * have a pid that means nothing here */
	lldb::SBFileSpec spec = target.GetExecutable();
	const char *base = spec.IsValid() ? spec.GetFilename() : nullptr;
	const char *slash = strrchr(exe, '/');
	return !base || strcmp(base, slash ? slash + 1 : exe) == 0;
}

/* Every loaded section of every module, for the library's section probe. */
void module_mappings(lldb::SBTarget &target, std::vector<std::string> &paths,
		     std::vector<struct pyag_mapping> &maps)
{
	std::vector<size_t> owner;  /* index into paths of each mapping */
	uint32_t nmod = target.GetNumModules();
	for (uint32_t i = 0; i < nmod; i++) {
		lldb::SBModule module = target.GetModuleAtIndex(i);
		char path[PATH_MAX];
		if (!module.IsValid() ||
		    module.GetFileSpec().GetPath(path, sizeof(path)) == 0 ||
		    path[0] != '/')
			continue;
		paths.emplace_back(path);
		size_t nsec = module.GetNumSections();
		for (size_t k = 0; k < nsec; k++) {
			lldb::SBSection sec = module.GetSectionAtIndex(k);
			lldb::addr_t start = sec.GetLoadAddress(target);
			lldb::addr_t size = sec.GetByteSize();
			if (start == LLDB_INVALID_ADDRESS || size == 0)
				continue;
			struct pyag_mapping m;
			m.start = start;
			m.end = start + size;
			m.offset = sec.GetFileOffset();
			m.path = nullptr;
			maps.push_back(m);
			owner.push_back(paths.size() - 1);
		}
	}
	for (size_t i = 0; i < maps.size(); i++)
		maps[i].path = paths[owner[i]].c_str();
}

// The paths of a file-list setting as SBDebugger::GetInternalVariableValue
// gives them: "  [0]: /a  [1]: /b" (lldb 14, in one string) or one entry
// per string; plain strings are taken as they are.
std::vector<std::string> setting_paths(lldb::SBStringList &list)
{
	std::vector<std::string> paths;
	for (uint32_t i = 0; i < list.GetSize(); i++) {
		std::string s = list.GetStringAtIndex(i) ? list.GetStringAtIndex(i) : "";
		size_t at = s.find('[');
		if (at == std::string::npos || s.find("]: ", at) == std::string::npos) {
			size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
			if (b != std::string::npos)
				paths.push_back(s.substr(b, e - b + 1));
			continue;
		}
		while (at != std::string::npos) {
			size_t start = s.find("]: ", at);
			if (start == std::string::npos)
				break;
			start += 3;
			size_t next = s.find("  [", start);
			std::string p = s.substr(start, next == std::string::npos
							     ? std::string::npos : next - start);
			size_t e = p.find_last_not_of(" \t");
			if (e != std::string::npos)
				paths.push_back(p.substr(0, e + 1));
			at = next == std::string::npos ? next : next + 2;
		}
	}
	return paths;
}

bool wants_help(char **argv)
{
	for (char **a = argv; a && *a; a++) {
		if (strcmp(*a, "--") == 0)
			return false;
		if (strcmp(*a, "-h") == 0 || strcmp(*a, "--help") == 0)
			return true;
	}
	return false;
}

/* What a command prints: its output, then warnings and --stats lines. */
struct Output {
	std::string text;
	std::vector<std::pair<bool, std::string>> messages;  /* (warning, text) */
};

int collect_output(void *arg, const char *data, size_t size)
{
	static_cast<Output *>(arg)->text.append(data, size);
	return 0;
}

void collect_message(void *arg, const struct pyag_message *m)
{
	static_cast<Output *>(arg)->messages.emplace_back(m->kind == PYAG_MESSAGE_WARNING,
							  m->text);
}

class GraphCommand : public lldb::SBCommandPluginInterface {
public:
	bool DoExecute(lldb::SBDebugger debugger, char **command,
		       lldb::SBCommandReturnObject &result) override
	{
		try {
			return run(debugger, command, result);
		} catch (const std::bad_alloc &) {
			return fail(result, "out of memory");
		} catch (...) {
			return fail(result, "internal error in the lldb plugin");
		}
	}

private:
	static bool fail(lldb::SBCommandReturnObject &result, const char *message)
	{
		result.SetError(message);
		result.SetStatus(lldb::eReturnStatusFailed);
		return false;
	}

	static bool run(lldb::SBDebugger &debugger, char **command,
			lldb::SBCommandReturnObject &result)
	{
		// lldb's own debug-file search paths come first, then the
		// options (which can add more)
		std::vector<std::string> dirs;
		lldb::SBStringList search = lldb::SBDebugger::GetInternalVariableValue(
			"target.debug-file-search-paths", debugger.GetInstanceName());
		for (const std::string &d : setting_paths(search))
			dirs.push_back("--debug-file-directory=" + d);
		std::vector<char *> argv;
		for (std::string &d : dirs)
			argv.push_back(&d[0]);
		for (char **a = command; a && *a; a++)
			argv.push_back(*a);
		argv.push_back(nullptr);
		int argc = (int)argv.size() - 1;

		Session s;
		s.target = debugger.GetSelectedTarget();
		if (s.target.IsValid())
			s.process = s.target.GetProcess();
		uint64_t selected = 0;
		std::string core_path, sysroot;
		std::vector<std::string> paths;
		std::vector<struct pyag_mapping> maps;
		bool direct = false, help = wants_help(command);
		int pid = 0;

		if (!help) {
			lldb::StateType state = s.process.IsValid() ? s.process.GetState()
								    : lldb::eStateInvalid;
			if (!s.process.IsValid() || state == lldb::eStateInvalid ||
			    state == lldb::eStateUnloaded || state == lldb::eStateDetached ||
			    state == lldb::eStateConnected || state == lldb::eStateAttaching ||
			    state == lldb::eStateLaunching)
				return fail(result, kNoProcess);
			if (state == lldb::eStateExited)
				return fail(result, "the process has exited: attach to a Python "
					    "process or load a core first");
			if (state == lldb::eStateRunning || state == lldb::eStateStepping)
				return fail(result, "the process is running: stop it first "
					    "(process interrupt)");
			s.core = is_core_process(s.process);
			lldb::pid_t lpid = s.process.GetProcessID();
			pid = lpid != LLDB_INVALID_PROCESS_ID && lpid <= INT_MAX ? (int)lpid : 0;
			lldb::SBThread thread = s.process.GetSelectedThread();
			if (thread.IsValid())
				selected = thread.GetThreadID();
			sysroot = platform_sysroot(debugger);
			const char *force = getenv("PYAG_LLDB_READ");
			bool via_lldb = force && strcmp(force, "lldb") == 0;
			if (s.core) {
				core_path = core_file_from_api(s.process, 0);
				if (core_path.empty() && !via_lldb)
					core_path = core_file_from_maps(s);
				if (via_lldb || core_path.empty() ||
				    access(core_path.c_str(), R_OK) != 0)
					core_path.clear();
			} else {
				direct = !via_lldb && is_local_live(s.target, s.process);
			}
			if (!direct && core_path.empty())
				module_mappings(s.target, paths, maps);
		}

		/* The session: the core file or the live pid read directly when
		 * lldb's target is local, else lldb's own memory. */
		auto open = [&](bool through_lldb, struct pyag_session **ret) {
			struct pyag_error *e;
			if (!through_lldb && !core_path.empty()) {
				e = pyag_session_create_core(core_path.c_str(), nullptr,
							     sysroot.empty() ? nullptr
									     : sysroot.c_str(),
							     ret);
			} else if (!through_lldb) {
				e = pyag_session_create_pid(pid, ret);
				/* lldb holds the process stopped */
				if (!e)
					e = pyag_session_set_stop(*ret, 0);
				if (!e && !sysroot.empty())
					e = pyag_session_set_sysroot(*ret, sysroot.c_str());
			} else {
				struct pyag_callbacks cb = PYAG_INIT_CALLBACKS;
				cb.kind = s.core ? PYAG_TARGET_CORE : PYAG_TARGET_LIVE;
				cb.pid = pid;
				cb.read = read_memory;
				cb.read_arg = &s;
				e = pyag_session_create_callbacks(&cb, ret);
				/* even none: never the maps of an unrelated local pid */
				if (!e)
					e = pyag_session_set_mappings(*ret, maps.data(), maps.size());
				if (!e && !sysroot.empty())
					e = pyag_session_set_sysroot(*ret, sysroot.c_str());
			}
			if (!e)
				e = pyag_session_set_symbol_fn(*ret, find_symbol, &s);
			if (e) {
				pyag_session_destroy(*ret);
				*ret = nullptr;
			}
			return e;
		};
		auto run_once = [&](bool through_lldb, Output &out) {
			struct pyag_session *session = nullptr;
			struct pyag_error *e = help ? nullptr : open(through_lldb, &session);
			if (!e) {
				struct pyag_command_options co = PYAG_INIT_COMMAND_OPTIONS;
				co.selected_native_thread_id = selected;
				co.write = collect_output;
				co.write_arg = &out;
				co.message = collect_message;
				co.message_arg = &out;
				co.use_cache = 1;
				e = pyag_command_run(session, argc, argv.data(), &co, nullptr);
			}
			pyag_session_destroy(session);
			return e;
		};

		Output out;
		bool through_lldb = !direct && core_path.empty();
		struct pyag_error *err = run_once(through_lldb, out);
		if (err && direct &&
		    (pyag_error_code(err) == PYAG_ERROR_PERMISSION ||
		     pyag_error_code(err) == PYAG_ERROR_NO_PROCESS ||
		     pyag_error_code(err) == PYAG_ERROR_OS)) {
			/* /proc refused (ptrace scope, another pid namespace):
			 * read through lldb instead */
			pyag_error_destroy(err);
			out = Output();
			err = run_once(true, out);
		}
		if (err) {
			std::string message = pyag_error_message(err);
			pyag_error_destroy(err);
			return fail(result, message.c_str());
		}
		if (!out.text.empty())
			result.Printf("%s", out.text.c_str());
		for (const auto &m : out.messages) {
			if (m.first)
				result.AppendWarning(m.second.c_str());
			else
				result.AppendMessage(m.second.c_str());
		}
		result.SetStatus(lldb::eReturnStatusSuccessFinishResult);
		return true;
	}
};

std::string long_help()
{
	std::string text =
		"\n"
		"Reads the inferior's memory (a live Python 3.11+ process or a "
		"core file) without running code in it.\n"
		"\n"
		"Examples:\n"
		"  async graph                         the tree of all tasks\n"
		"  async graph --format=callgraph      asyncio.format_call_graph() of every task\n"
		"  async graph 0x7ffff7a1b2c0          one task or future and who awaits it\n"
		"  async graph --current               the task running on the selected thread\n"
		"  async graph --format=table          like 'python -m asyncio ps'\n"
		"  async graph --format=threads        every thread: state, Python stack, tasks\n"
		"  async graph --waiting               what each task waits on (lock, queue...)\n"
		"  async graph --format=loops          every event loop: timers, fds, deadlock?\n"
		"\n";
	const char *usage = pyag_command_usage();
	/* lldb re-flows unindented help lines: skip the library's summary
	 * paragraph (the command's help says the same) and keep the lists. */
	const char *lists = strstr(usage, "\n\n");
	text += lists ? lists + 2 : usage;
	return text;
}

}  // namespace

bool lldb::PluginInitialize(lldb::SBDebugger debugger)
{
	lldb::SBCommandInterpreter interp = debugger.GetCommandInterpreter();
	lldb::SBCommand async = interp.AddMultiwordCommand(
		"async", "Commands for Python asyncio programs (py-async-graph).");
	if (!async.IsValid())
		return false;
	static std::string help_long = long_help();
	lldb::SBCommand graph = async.AddCommand(
		"graph", new GraphCommand(),
		"Print the asyncio call graph of a Python 3.11+ process or core: "
		"every task, where each coroutine is suspended, and who awaits whom.",
		"async graph [OPTIONS] [TASK]",
		"" /* no auto-repeat */);
	if (!graph.IsValid())
		return false;
	graph.SetHelpLong(help_long.c_str());
	return true;
}
