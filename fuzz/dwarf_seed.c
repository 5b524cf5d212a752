/* The seed of the DWARF fuzz target: compiled with -g at `make fuzz` time,
 * its debug information has the shapes the layout loader walks (structs
 * named like the interpreter's, typedefs, anonymous members, bit-fields,
 * unions, arrays, enums). The values mean nothing. */
#include <stdint.h>

struct llist_node { struct llist_node *next, *prev; };
typedef struct _object { intptr_t ob_refcnt; struct _typeobject *ob_type; } PyObject;
typedef struct _typeobject { PyObject ob_base; const char *tp_name; unsigned long tp_flags; } PyTypeObject;
typedef struct _longobject { PyObject ob_base; uintptr_t lv_tag; uint32_t ob_digit[1]; } PyLongObject;
typedef struct { PyObject ob_base; intptr_t length; intptr_t hash;
	struct { unsigned int interned : 2; unsigned int kind : 3;
		 unsigned int compact : 1; unsigned int ascii : 1; } state; } PyASCIIObject;
typedef struct { PyObject ob_base; intptr_t ob_size; char ob_sval[1]; } PyBytesObject;
typedef struct { PyObject ob_base; intptr_t ob_size; PyObject *ob_item[1]; } PyTupleObject;
typedef struct { PyObject *key; intptr_t hash; } setentry;
typedef struct { PyObject ob_base; intptr_t fill, used, mask; setentry *table; } PySetObject;
typedef struct PyCodeObject { PyObject ob_base; PyObject *co_filename, *co_name, *co_qualname;
	PyObject *co_linetable; int co_firstlineno; char co_code_adaptive[1]; } PyCodeObject;
enum _framestate { FRAME_CREATED = -3, FRAME_SUSPENDED = -1, FRAME_EXECUTING = 0,
	FRAME_COMPLETED = 1, FRAME_CLEARED = 4 };
typedef struct _PyInterpreterFrame { PyObject *f_executable; struct _PyInterpreterFrame *previous;
	void *instr_ptr; PyObject **stackpointer; char owner; int32_t tlbc_index; } _PyInterpreterFrame;
typedef struct _PyGenObject { PyObject ob_base; PyObject *gi_name; int8_t gi_frame_state;
	_PyInterpreterFrame gi_iframe; } PyGenObject;
typedef struct _PyCoroObject { PyObject ob_base; PyObject *cr_name; int8_t cr_frame_state;
	_PyInterpreterFrame cr_iframe; } PyCoroObject;
typedef struct PyAsyncGenASend { PyObject ob_base; PyGenObject *ags_gen; } PyAsyncGenASend;
typedef struct _ts { struct _ts *prev, *next; struct _is *interp;
	unsigned long thread_id, native_thread_id; _PyInterpreterFrame *current_frame; } PyThreadState;
typedef struct _PyThreadStateImpl { PyThreadState base; PyObject *asyncio_running_loop;
	PyObject *asyncio_running_task; struct llist_node asyncio_tasks_head; } _PyThreadStateImpl;
typedef struct _is { struct _is *next; int64_t id; struct { PyThreadState *head; } threads;
	struct llist_node asyncio_tasks_head; } PyInterpreterState;
typedef struct pyruntimestate { char cookie[8]; uint64_t version;
	struct { PyInterpreterState *head; } interpreters; } _PyRuntimeState;
typedef struct TaskObj { PyObject ob_base; PyObject *task_awaited_by; char task_is_task;
	char task_awaited_by_is_set; PyObject *task_coro; PyObject *task_name;
	struct llist_node task_node; union { int u1; double u2; }; } TaskObj;
struct outer { char c; struct { int x; struct { short pad; short deep; } nested; } named;
	struct { unsigned int kind : 3; unsigned int ascii : 1; } state; int arr[4]; };
enum color { RED, GREEN = 7, BLUE };

_PyRuntimeState seed_runtime;
PyInterpreterState seed_interp;
_PyThreadStateImpl seed_tstate;
PyCodeObject seed_code;
PyCoroObject seed_coro;
PyAsyncGenASend seed_asend;
PyLongObject seed_long;
PyASCIIObject seed_str;
PyBytesObject seed_bytes;
PyTupleObject seed_tuple;
PySetObject seed_set;
TaskObj seed_task;
struct outer seed_outer;
enum color seed_color;
enum _framestate seed_state;
