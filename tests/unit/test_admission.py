import asyncio

from npuhub.spawners.admission import Admission


def test_admits_in_order_and_reports_positions():
    async def scenario():
        gate = Admission(2)
        order = []

        async def user(name, hold):
            await gate.acquire(name)
            order.append(name)
            await asyncio.sleep(hold)
            gate.release()

        tasks = [asyncio.create_task(user(f"u{i}", 0.05)) for i in range(5)]
        await asyncio.sleep(0.01)
        assert gate.active == 2
        assert [gate.position(f"u{i}") for i in range(5)] == [None, None, 1, 2, 3]
        await asyncio.gather(*tasks)
        assert order == ["u0", "u1", "u2", "u3", "u4"]
        assert gate.active == 0 and gate.waiting == 0

    asyncio.run(scenario())


def test_cancelled_waiter_leaves_the_line():
    async def scenario():
        gate = Admission(1)
        await gate.acquire("a")
        waiter = asyncio.create_task(gate.acquire("b"))
        third = asyncio.create_task(gate.acquire("c"))
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
        assert gate.position("b") is None and gate.position("c") == 1
        gate.release()
        await third
        assert gate.active == 1

    asyncio.run(scenario())
