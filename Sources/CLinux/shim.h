#ifndef PD_CLINUX_SHIM_H
#define PD_CLINUX_SHIM_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <string.h>
#include <pthread.h>

/* Hidden by the toolchain's Glibc module without _GNU_SOURCE. */
extern int accept4(int sockfd, struct sockaddr *addr, socklen_t *addrlen, int flags);
extern void *memmem(const void *haystack, size_t haystacklen, const void *needle, size_t needlelen);
extern int pthread_setname_np(pthread_t thread, const char *name);
#endif
